package kommerce.policies.resource_limits_test

import data.kommerce.policies.resource_limits

service(spec) := {"review": {
	"kind": {"group": "kommerce.io", "version": "v1alpha1", "kind": "Service"},
	"operation": "CREATE",
	"namespace": "shop",
	"name": "order",
	"object": {
		"apiVersion": "kommerce.io/v1alpha1",
		"kind": "Service",
		"metadata": {"name": "order", "namespace": "shop"},
		"spec": object.union({"image": "ghcr.io/kommerce/order", "version": "1.0.0"}, spec),
	},
}}

full := {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}

pod_spec(app, migrate) := {
	"containers": [{"name": "app", "image": "ghcr.io/kommerce/web:1", "resources": app}],
	"initContainers": [{"name": "migrate", "image": "ghcr.io/kommerce/web:1", "resources": migrate}],
}

workload(kind, app, migrate) := {"review": {
	"kind": {"group": "apps", "version": "v1", "kind": kind},
	"operation": "CREATE",
	"namespace": "shop",
	"name": "web",
	"object": {
		"apiVersion": "apps/v1",
		"kind": kind,
		"metadata": {"name": "web", "namespace": "shop"},
		"spec": {"template": {"spec": pod_spec(app, migrate)}},
	},
}}

pod(app, migrate) := {"review": {
	"kind": {"group": "", "version": "v1", "kind": "Pod"},
	"operation": "CREATE",
	"namespace": "shop",
	"name": "web-1",
	"object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": "shop"}, "spec": pod_spec(app, migrate)},
}}

with_params(inp, params) := object.union(inp, {"parameters": params})

messages(inp) := {v.msg | some v in resource_limits.violation with input as inp}

# kommerce.io Service -----------------------------------------------------------------------------

test_service_with_requests_and_memory_limit_is_allowed if {
	count(messages(service({"resources": full}))) == 0
}

test_service_without_resources_gets_the_operator_defaults if {
	count(messages(service({}))) == 0
	count(messages(service({"resources": {}}))) == 0
	count(messages(service({"resources": {"limits": {"memory": "1Gi"}}}))) == 0
}

test_service_requests_block_without_memory_is_denied if {
	msgs := messages(service({"resources": {"requests": {"cpu": "1"}}}))
	msgs == {"Service shop/order: spec.resources.requests.memory is not set, so the service's pods run without a memory request; add spec.resources.requests.memory (e.g. 128Mi)"}
}

test_service_limits_block_without_memory_is_denied if {
	msgs := messages(service({"resources": {"requests": full.requests, "limits": {"cpu": "2"}}}))
	msgs == {"Service shop/order: spec.resources.limits.memory is not set, so the service's pods run without a memory limit; add spec.resources.limits.memory (e.g. 512Mi)"}
}

test_service_empty_blocks_are_denied if {
	count(messages(service({"resources": {"requests": {}, "limits": {}}}))) == 3
	count(messages(service({"resources": {"requests": {"cpu": "", "memory": null}}}))) == 2
}

test_core_v1_service_is_ignored if {
	inp := json.patch(service({"resources": {"requests": {}}}), [{"op": "replace", "path": "/review/kind", "value": {"group": "", "version": "v1", "kind": "Service"}}])
	count(messages(inp)) == 0
}

# Workloads and Pods ------------------------------------------------------------------------------

test_workloads_and_pods_with_resources_are_allowed if {
	every kind in ["Deployment", "StatefulSet", "DaemonSet"] {
		count(messages(workload(kind, full, full))) == 0
	}
	count(messages(pod(full, full))) == 0
}

test_container_without_resources_is_denied if {
	every kind in ["Deployment", "StatefulSet", "DaemonSet"] {
		msgs := messages(workload(kind, null, full))
		count(msgs) == 3
		sprintf("%s shop/web: container `app` has no memory limit; set resources.limits.memory on it (e.g. 512Mi)", [kind]) in msgs
	}
}

test_init_container_without_cpu_request_is_denied if {
	msgs := messages(pod(full, {"requests": {"memory": "64Mi"}, "limits": {"memory": "64Mi"}}))
	msgs == {"Pod shop/web-1: init container `migrate` has no cpu request; set resources.requests.cpu on it (e.g. 100m)"}
}

test_cpu_limit_is_not_required_by_default if {
	count(messages(pod(full, object.union(full, {"limits": {"cpu": "1", "memory": "1Gi"}})))) == 0
}

test_ephemeral_containers_are_not_checked if {
	inp := json.patch(pod(full, full), [{"op": "add", "path": "/review/object/spec/ephemeralContainers", "value": [{"name": "debug", "image": "busybox"}]}])
	count(messages(inp)) == 0
}

test_delete_is_ignored if {
	inp := json.patch(pod({}, {}), [
		{"op": "replace", "path": "/review/operation", "value": "DELETE"},
		{"op": "replace", "path": "/review/object", "value": null},
	])
	count(messages(inp)) == 0
}

test_update_and_audit_are_checked if {
	every op in ["UPDATE", "AUDIT"] {
		inp := json.patch(pod({}, full), [{"op": "replace", "path": "/review/operation", "value": op}])
		count(messages(inp)) == 3
	}
}

# Parameters --------------------------------------------------------------------------------------

test_parameters_can_require_a_cpu_limit if {
	params := {"limits": ["cpu", "memory"]}
	msgs := messages(with_params(pod(full, full), params))
	msgs == {
		"Pod shop/web-1: container `app` has no cpu limit; set resources.limits.cpu on it (e.g. 500m)",
		"Pod shop/web-1: init container `migrate` has no cpu limit; set resources.limits.cpu on it (e.g. 500m)",
	}
	with_cpu := {"requests": full.requests, "limits": {"cpu": "1", "memory": "1Gi"}}
	count(messages(with_params(pod(with_cpu, with_cpu), params))) == 0
}

test_parameters_apply_to_service_defaults if {
	msgs := messages(with_params(service({}), {"limits": ["cpu", "memory"]}))
	msgs == {"Service shop/order: spec.resources.limits.cpu is not set, so the service's pods run without a cpu limit; add spec.resources.limits.cpu (e.g. 500m)"}
}

test_parameters_can_relax_requirements if {
	params := {"requests": ["memory"], "limits": []}
	count(messages(with_params(pod({"requests": {"memory": "1Gi"}}, {"requests": {"memory": "1Gi"}}), params))) == 0
}

test_unknown_resources_get_a_generic_example if {
	msgs := messages(with_params(pod(full, full), {"requests": ["nvidia.com/gpu"], "limits": []}))
	"Pod shop/web-1: container `app` has no nvidia.com/gpu request; set resources.requests.nvidia.com/gpu on it (e.g. a quantity)" in msgs
}

test_empty_parameters_use_the_defaults if {
	count(messages(with_params(pod(null, null), {}))) == 6
	count(messages(with_params(pod(null, null), null))) == 6
}
