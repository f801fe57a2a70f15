package kommerce.policies.no_privileged_test

import data.kommerce.policies.no_privileged

safe_container := {
	"name": "app",
	"image": "ghcr.io/kommerce/web:1",
	"securityContext": {"allowPrivilegeEscalation": false, "runAsNonRoot": true, "capabilities": {"drop": ["ALL"]}},
}

plain_container := {"name": "app", "image": "ghcr.io/kommerce/web:1"}

safe_pod_spec := {"securityContext": {"runAsNonRoot": true}, "containers": [safe_container]}

workload(kind, spec) := {"review": {
	"kind": {"group": "apps", "version": "v1", "kind": kind},
	"operation": "CREATE",
	"namespace": "shop",
	"name": "web",
	"object": {
		"apiVersion": "apps/v1",
		"kind": kind,
		"metadata": {"name": "web", "namespace": "shop"},
		"spec": {"template": {"spec": spec}},
	},
}}

pod(spec) := {"review": {
	"kind": {"group": "", "version": "v1", "kind": "Pod"},
	"operation": "CREATE",
	"namespace": "shop",
	"name": "web-1",
	"object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": "shop"}, "spec": spec},
}}

with_params(inp, params) := object.union(inp, {"parameters": params})

messages(inp) := {v.msg | some v in no_privileged.violation with input as inp}

with_container(spec, sc) := object.union(spec, {"containers": [object.union(plain_container, {"securityContext": sc})]})

test_safe_workloads_and_pods_are_allowed if {
	every kind in ["Deployment", "StatefulSet", "DaemonSet"] {
		count(messages(workload(kind, safe_pod_spec))) == 0
	}
	count(messages(pod(safe_pod_spec))) == 0
}

test_run_as_non_root_on_the_container_alone_is_enough if {
	count(messages(pod({"containers": [safe_container]}))) == 0
}

test_run_as_non_root_on_the_pod_alone_is_enough if {
	count(messages(pod({"securityContext": {"runAsNonRoot": true, "runAsUser": 10001}, "containers": [plain_container]}))) == 0
}

test_missing_run_as_non_root_is_denied if {
	every kind in ["Deployment", "StatefulSet", "DaemonSet"] {
		messages(workload(kind, {"containers": [plain_container]})) == {sprintf("%s shop/web: container `app` may run as root: runAsNonRoot is not set; set securityContext.runAsNonRoot: true on the pod (spec.template.spec.securityContext) or the container", [kind])}
	}
	messages(pod({"containers": [plain_container]})) == {"Pod shop/web-1: container `app` may run as root: runAsNonRoot is not set; set securityContext.runAsNonRoot: true on the pod (spec.securityContext) or the container"}
}

test_container_overriding_the_pod_with_false_is_denied if {
	msgs := messages(pod(with_container(safe_pod_spec, {"runAsNonRoot": false})))
	msgs == {"Pod shop/web-1: container `app` may run as root: the container's securityContext.runAsNonRoot is false; set securityContext.runAsNonRoot: true on the pod (spec.securityContext) or the container"}
}

test_pod_level_false_is_denied if {
	msgs := messages(pod({"securityContext": {"runAsNonRoot": false}, "containers": [plain_container]}))
	msgs == {"Pod shop/web-1: container `app` may run as root: the pod's securityContext.runAsNonRoot is false; set securityContext.runAsNonRoot: true on the pod (spec.securityContext) or the container"}
}

test_run_as_user_zero_is_denied if {
	msgs := messages(pod(with_container(safe_pod_spec, {"runAsUser": 0})))
	msgs == {"Pod shop/web-1: container `app` runs as root: runAsUser is 0 (set in the container's securityContext); set runAsUser to a non-zero UID (e.g. 10001)"}
}

test_run_as_user_zero_inherited_from_the_pod_is_denied if {
	spec := {"securityContext": {"runAsNonRoot": true, "runAsUser": 0}, "containers": [plain_container]}
	messages(pod(spec)) == {"Pod shop/web-1: container `app` runs as root: runAsUser is 0 (inherited from the pod's securityContext); set runAsUser to a non-zero UID (e.g. 10001)"}
}

test_container_run_as_user_overrides_a_root_pod if {
	spec := {"securityContext": {"runAsNonRoot": true, "runAsUser": 0}, "containers": [object.union(plain_container, {"securityContext": {"runAsUser": 1000}})]}
	count(messages(pod(spec))) == 0
}

test_privileged_container_is_denied if {
	msgs := messages(workload("DaemonSet", with_container(safe_pod_spec, {"privileged": true})))
	msgs == {"DaemonSet shop/web: container `app` is privileged; remove securityContext.privileged (or set it to false)"}
}

test_privilege_escalation_is_denied if {
	msgs := messages(workload("StatefulSet", with_container(safe_pod_spec, {"allowPrivilegeEscalation": true})))
	msgs == {"StatefulSet shop/web: container `app` sets securityContext.allowPrivilegeEscalation: true; set it to false"}
}

test_explicitly_unprivileged_is_allowed if {
	count(messages(pod(with_container(safe_pod_spec, {"privileged": false, "allowPrivilegeEscalation": false})))) == 0
}

test_host_namespaces_are_denied if {
	spec := object.union(safe_pod_spec, {"hostNetwork": true, "hostPID": true, "hostIPC": true})
	messages(workload("Deployment", spec)) == {
		"Deployment shop/web: spec.template.spec.hostNetwork is true, so the pod shares the node's network namespace; remove it or set it to false",
		"Deployment shop/web: spec.template.spec.hostPID is true, so the pod shares the node's PID namespace; remove it or set it to false",
		"Deployment shop/web: spec.template.spec.hostIPC is true, so the pod shares the node's IPC namespace; remove it or set it to false",
	}
	count(messages(pod(object.union(safe_pod_spec, {"hostNetwork": false})))) == 0
}

test_init_and_ephemeral_containers_are_checked if {
	spec := object.union(safe_pod_spec, {
		"initContainers": [{"name": "setup", "image": "ghcr.io/kommerce/web:1", "securityContext": {"privileged": true}}],
		"ephemeralContainers": [{"name": "debug", "image": "busybox:1", "securityContext": {"runAsUser": 0}}],
	})
	messages(pod(spec)) == {
		"Pod shop/web-1: init container `setup` is privileged; remove securityContext.privileged (or set it to false)",
		"Pod shop/web-1: ephemeral container `debug` runs as root: runAsUser is 0 (set in the container's securityContext); set runAsUser to a non-zero UID (e.g. 10001)",
	}
}

test_kommerce_services_and_other_kinds_are_ignored if {
	service := {"review": {
		"kind": {"group": "kommerce.io", "version": "v1alpha1", "kind": "Service"},
		"operation": "CREATE",
		"namespace": "shop",
		"name": "order",
		"object": {"metadata": {"name": "order"}, "spec": {"image": "ghcr.io/kommerce/order", "version": "1"}},
	}}
	count(messages(service)) == 0
	job := json.patch(workload("Deployment", {"containers": [plain_container]}), [{"op": "replace", "path": "/review/kind", "value": {"group": "batch", "version": "v1", "kind": "Job"}}])
	count(messages(job)) == 0
}

test_delete_is_ignored if {
	inp := json.patch(pod({"hostPID": true, "containers": [plain_container]}), [
		{"op": "replace", "path": "/review/operation", "value": "DELETE"},
		{"op": "replace", "path": "/review/object", "value": null},
	])
	count(messages(inp)) == 0
}

test_audit_is_checked if {
	inp := json.patch(pod({"containers": [plain_container]}), [{"op": "replace", "path": "/review/operation", "value": "AUDIT"}])
	count(messages(inp)) == 1
}

test_exempt_images_skip_container_checks if {
	spec := {"containers": [object.union(plain_container, {"image": "registry.k8s.io/kube-proxy:v1.31.0", "securityContext": {"privileged": true}})]}
	count(messages(pod(spec))) == 2
	count(messages(with_params(pod(spec), {"exemptImages": ["registry.k8s.io/kube-proxy:*"]}))) == 0
	count(messages(with_params(pod(spec), {"exemptImages": ["registry.k8s.io/kube-proxy:v1.31.0"]}))) == 0
	count(messages(with_params(pod(spec), {"exemptImages": ["registry.k8s.io/kube-proxy"]}))) == 2
}

test_exempt_images_keep_the_host_namespace_checks if {
	spec := {"hostNetwork": true, "containers": [object.union(plain_container, {"image": "registry.k8s.io/kube-proxy:v1.31.0"})]}
	count(messages(with_params(pod(spec), {"exemptImages": ["registry.k8s.io/*"]}))) == 1
}

test_empty_parameters_exempt_nothing if {
	count(messages(with_params(pod({"containers": [plain_container]}), {}))) == 1
	count(messages(with_params(pod({"containers": [plain_container]}), null))) == 1
}
