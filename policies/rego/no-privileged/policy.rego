# METADATA
# title: No privileged or root containers
# description: >-
#   Containers run as a non-root user, unprivileged, without privilege escalation, and pods do not
#   share the node's network, PID or IPC namespaces.
package kommerce.policies.no_privileged

# Parameters (spec.parameters of the Policy), all optional:
#   exemptImages: images whose containers skip the container checks: an exact image, or a prefix
#                 ending in "*" (e.g. "registry.k8s.io/kube-proxy:*"). The pod-level host
#                 namespace checks still apply; exclude the namespace in spec.match for those.
params := p if {
	p := input.parameters
	is_object(p)
} else := {}

exempt_images := object.get(params, "exemptImages", [])

host_namespaces := {
	"hostNetwork": "the node's network",
	"hostPID": "the node's PID",
	"hostIPC": "the node's IPC",
}

violation contains {"msg": msg} if {
	some field, shared in host_namespaces
	pod_spec[field] == true
	msg := sprintf("%s: %s.%s is true, so the pod shares %s namespace; remove it or set it to false", [subject, pod_path, field, shared])
}

violation contains {"msg": msg} if {
	some [what, container] in checked_containers
	container.securityContext.privileged == true
	msg := sprintf(
		"%s: %s `%s` is privileged; remove securityContext.privileged (or set it to false)",
		[subject, what, container_name(container)],
	)
}

violation contains {"msg": msg} if {
	some [what, container] in checked_containers
	container.securityContext.allowPrivilegeEscalation == true
	msg := sprintf(
		"%s: %s `%s` sets securityContext.allowPrivilegeEscalation: true; set it to false",
		[subject, what, container_name(container)],
	)
}

violation contains {"msg": msg} if {
	some [what, container] in checked_containers
	[non_root, where] := effective(container, "runAsNonRoot")
	non_root != true
	msg := sprintf(
		"%s: %s `%s` may run as root: %s; set securityContext.runAsNonRoot: true on the pod (%s.securityContext) or the container",
		[subject, what, container_name(container), non_root_reason(where), pod_path],
	)
}

violation contains {"msg": msg} if {
	some [what, container] in checked_containers
	[uid, where] := effective(container, "runAsUser")
	uid == 0
	msg := sprintf(
		"%s: %s `%s` runs as root: runAsUser is 0 (%s); set runAsUser to a non-zero UID (e.g. 10001)",
		[subject, what, container_name(container), where_text[where]],
	)
}

# [value, where] of a securityContext field as the kubelet sees it: the container's own setting
# wins over the pod's. `where` is "container", "pod" or "unset" (value null).
effective(container, field) := [value, "container"] if {
	value := container.securityContext[field]
	value != null
} else := [value, "pod"] if {
	value := pod_spec.securityContext[field]
	value != null
} else := [null, "unset"]

non_root_reason("container") := "the container's securityContext.runAsNonRoot is false"

non_root_reason("pod") := "the pod's securityContext.runAsNonRoot is false"

non_root_reason("unset") := "runAsNonRoot is not set"

where_text := {
	"container": "set in the container's securityContext",
	"pod": "inherited from the pod's securityContext",
}

container_name(container) := object.get(container, "name", "<unnamed>")

checked_containers contains [what, container] if {
	some [what, container] in containers
	not exempt(object.get(container, "image", ""))
}

exempt(image) if {
	some pattern in exempt_images
	not endswith(pattern, "*")
	image == pattern
}

exempt(image) if {
	some pattern in exempt_images
	endswith(pattern, "*")
	startswith(image, trim_suffix(pattern, "*"))
}

# The object under review ------------------------------------------------------------------------

review := input.review

obj := review.object

checked_operation if {
	review.operation != "DELETE"
	is_object(obj)
}

workload_kinds := {"Deployment", "StatefulSet", "DaemonSet"}

pod_spec := obj.spec.template.spec if {
	review.kind.group == "apps"
	review.kind.kind in workload_kinds
	checked_operation
}

pod_spec := obj.spec if {
	review.kind.group == ""
	review.kind.kind == "Pod"
	checked_operation
}

pod_path := "spec" if {
	review.kind.kind == "Pod"
} else := "spec.template.spec"

container_fields := {
	"containers": "container",
	"initContainers": "init container",
	"ephemeralContainers": "ephemeral container",
}

containers contains [what, container] if {
	some field, what in container_fields
	some container in object.get(pod_spec, field, [])
}

namespace := review.namespace if {
	is_string(review.namespace)
	review.namespace != ""
} else := object.get(obj, ["metadata", "namespace"], "")

name := review.name if {
	is_string(review.name)
	review.name != ""
} else := obj.metadata.name if {
	is_string(obj.metadata.name)
	obj.metadata.name != ""
} else := sprintf("%s*", [obj.metadata.generateName]) if {
	is_string(obj.metadata.generateName)
} else := "<unnamed>"

subject := sprintf("%s %s/%s", [review.kind.kind, namespace, name]) if {
	namespace != ""
} else := sprintf("%s %s", [review.kind.kind, name])
