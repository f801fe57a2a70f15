package kommerce.policies.allowed_images_test

import data.kommerce.policies.allowed_images

service(image, version) := {"review": {
	"kind": {"group": "kommerce.io", "version": "v1alpha1", "kind": "Service"},
	"operation": "CREATE",
	"namespace": "shop",
	"name": "order",
	"object": {
		"apiVersion": "kommerce.io/v1alpha1",
		"kind": "Service",
		"metadata": {"name": "order", "namespace": "shop"},
		"spec": {"image": image, "version": version},
	},
}}

pod_spec(images) := {
	"containers": [{"name": "app", "image": images[0]}],
	"initContainers": [{"name": "migrate", "image": images[1]}],
}

workload(kind, images) := {"review": {
	"kind": {"group": "apps", "version": "v1", "kind": kind},
	"operation": "CREATE",
	"namespace": "shop",
	"name": "web",
	"object": {
		"apiVersion": "apps/v1",
		"kind": kind,
		"metadata": {"name": "web", "namespace": "shop"},
		"spec": {"template": {"spec": pod_spec(images)}},
	},
}}

pod(images) := {"review": {
	"kind": {"group": "", "version": "v1", "kind": "Pod"},
	"operation": "CREATE",
	"namespace": "shop",
	"name": "web-1",
	"object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": "shop"}, "spec": pod_spec(images)},
}}

with_params(inp, params) := object.union(inp, {"parameters": params})

messages(inp) := {v.msg | some v in allowed_images.violation with input as inp}

good := ["ghcr.io/kommerce/web:1.2.0", "ghcr.io/kommerce/migrate:1.2.0"]

digest := "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

# kommerce.io Service -----------------------------------------------------------------------------

test_service_with_registry_image_and_version_is_allowed if {
	count(messages(service("ghcr.io/kommerce/order", "1.2.0"))) == 0
}

test_service_image_with_its_own_tag_or_digest_is_allowed if {
	count(messages(service("ghcr.io/kommerce/order:1.2.0", "1.2.0"))) == 0
	count(messages(service(concat("@", ["ghcr.io/kommerce/order", digest]), "1.2.0"))) == 0
}

test_service_from_another_registry_is_denied if {
	messages(service("docker.io/library/nginx", "1.27")) == {"Service shop/order: image `docker.io/library/nginx:1.27` is not from an allowed registry; set spec.image to an image under ghcr.io/kommerce/"}
}

test_service_prefix_needs_the_slash if {
	count(messages(service("ghcr.io/kommerce-evil/order", "1.0.0"))) == 1
}

test_service_version_latest_is_denied if {
	messages(service("ghcr.io/kommerce/order", "latest")) == {"Service shop/order: spec.version is `latest`, which is not a pinned version; set spec.version to a release (e.g. 1.4.2)"}
}

test_service_image_tag_latest_is_denied if {
	messages(service("ghcr.io/kommerce/order:latest", "1.2.0")) == {"Service shop/order: spec.image `ghcr.io/kommerce/order:latest` carries the tag `latest`; drop the tag from spec.image and set spec.version to a release, or pin a digest (@sha256:...)"}
}

test_service_registry_port_is_not_a_tag if {
	inp := with_params(service("localhost:5000/kommerce/order", "latest"), {"registries": ["localhost:5000/"]})
	messages(inp) == {"Service shop/order: spec.version is `latest`, which is not a pinned version; set spec.version to a release (e.g. 1.4.2)"}
}

test_core_v1_service_is_ignored if {
	inp := json.patch(service("nginx", "latest"), [{"op": "replace", "path": "/review/kind", "value": {"group": "", "version": "v1", "kind": "Service"}}])
	count(messages(inp)) == 0
}

# Workloads and Pods ------------------------------------------------------------------------------

test_workloads_and_pods_with_pinned_registry_images_are_allowed if {
	every kind in ["Deployment", "StatefulSet", "DaemonSet"] {
		count(messages(workload(kind, good))) == 0
	}
	count(messages(pod(good))) == 0
}

test_digest_without_tag_is_allowed if {
	count(messages(pod([concat("@", ["ghcr.io/kommerce/web", digest]), good[1]]))) == 0
}

test_workload_from_another_registry_is_denied if {
	every kind in ["Deployment", "StatefulSet", "DaemonSet"] {
		msgs := messages(workload(kind, ["ghcr.io/kommerce/web:1.2.0", "quay.io/x/migrate:2.0"]))
		msgs == {sprintf("%s shop/web: init container `migrate` image `quay.io/x/migrate:2.0` is not from an allowed registry; use an image under ghcr.io/kommerce/", [kind])}
	}
}

test_latest_tag_is_denied_in_containers if {
	msgs := messages(pod(["ghcr.io/kommerce/web:latest", good[1]]))
	msgs == {"Pod shop/web-1: container `app` image `ghcr.io/kommerce/web:latest` uses the tag `latest`; pin a version tag or a digest (@sha256:...)"}
}

test_untagged_image_is_denied if {
	msgs := messages(workload("Deployment", [good[0], "ghcr.io/kommerce/migrate"]))
	msgs == {"Deployment shop/web: init container `migrate` image `ghcr.io/kommerce/migrate` has no tag, which means `latest`; pin a version tag (e.g. ghcr.io/kommerce/migrate:1.4.2) or a digest (@sha256:...)"}
}

test_untagged_image_from_another_registry_reports_both if {
	count(messages(pod(["nginx", good[1]]))) == 2
}

test_ephemeral_containers_are_checked if {
	inp := json.patch(pod(good), [{"op": "add", "path": "/review/object/spec/ephemeralContainers", "value": [{"name": "debug", "image": "busybox"}]}])
	count(messages(inp)) == 2
	some msg in messages(inp)
	startswith(msg, "Pod shop/web-1: ephemeral container `debug` image `busybox` is not from")
}

test_delete_is_ignored if {
	inp := json.patch(pod(["nginx", "nginx"]), [
		{"op": "replace", "path": "/review/operation", "value": "DELETE"},
		{"op": "replace", "path": "/review/object", "value": null},
	])
	count(messages(inp)) == 0
}

test_audit_is_checked if {
	inp := json.patch(pod(["nginx:latest", good[1]]), [{"op": "replace", "path": "/review/operation", "value": "AUDIT"}])
	count(messages(inp)) == 2
}

test_other_kinds_are_ignored if {
	inp := json.patch(workload("Deployment", ["nginx", "nginx"]), [{"op": "replace", "path": "/review/kind/group", "value": "extensions"}])
	count(messages(inp)) == 0
}

# Parameters --------------------------------------------------------------------------------------

test_parameters_set_the_registries if {
	params := {"registries": ["registry.example.com/", "ghcr.io/kommerce/"]}
	count(messages(with_params(pod(["registry.example.com/web:1.0", good[1]]), params))) == 0
	messages(with_params(pod(["quay.io/web:1.0", good[1]]), params)) == {"Pod shop/web-1: container `app` image `quay.io/web:1.0` is not from an allowed registry; use an image under registry.example.com/ or ghcr.io/kommerce/"}
	count(messages(with_params(service("registry.example.com/order", "1.0"), params))) == 0
}

test_the_default_registry_is_not_allowed_when_parameters_replace_it if {
	count(messages(with_params(pod(good), {"registries": ["registry.example.com/"]}))) == 2
}

test_empty_registry_list_allows_nothing if {
	msgs := messages(with_params(service("ghcr.io/kommerce/order", "1.0"), {"registries": []}))
	msgs == {"Service shop/order: image `ghcr.io/kommerce/order:1.0` is not from an allowed registry; set spec.image to an image under (none: the Policy's parameters.registries is empty)"}
}

test_empty_parameters_use_the_default_registry if {
	count(messages(with_params(pod(good), {}))) == 0
	count(messages(with_params(pod(["quay.io/web:1.0", good[1]]), {}))) == 1
}
