# METADATA
# title: Resource requests and limits
# description: >-
#   Every container asks for CPU and memory (so the scheduler places it honestly) and has a
#   memory limit (so a leak kills one container, not its neighbours on the node).
package kommerce.policies.resource_limits

# Parameters (spec.parameters of the Policy), all optional:
#   requests: resources every container must request (default ["cpu", "memory"]).
#   limits:   resources every container must limit (default ["memory"]).
default_requests := ["cpu", "memory"]

default_limits := ["memory"]

params := p if {
	p := input.parameters
	is_object(p)
} else := {}

required := {
	"requests": object.get(params, "requests", default_requests),
	"limits": object.get(params, "limits", default_limits),
}

# What a kommerce.io Service gets when spec.resources (or its requests or limits block) is left
# out: the operator's defaults (kommerce/api/v1alpha1/service.py: Resources). A block that is set
# replaces the default one as a whole, so `requests: {cpu: 1}` has no memory request.
service_defaults := {
	"requests": {"cpu": "100m", "memory": "128Mi"},
	"limits": {"memory": "512Mi"},
}

examples := {
	"requests": {"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "1Gi"},
	"limits": {"cpu": "500m", "memory": "512Mi", "ephemeral-storage": "2Gi"},
}

singular := {"requests": "request", "limits": "limit"}

violation contains {"msg": msg} if {
	is_service
	some block, names in required
	some resource in names
	amounts := service_amounts(block)
	not set(amounts, resource)
	msg := sprintf(
		"%s: spec.resources.%s.%s is not set, so the service's pods run without a %s %s; add spec.resources.%s.%s (e.g. %s)",
		[subject, block, resource, resource, singular[block], block, resource, example(block, resource)],
	)
}

violation contains {"msg": msg} if {
	some [what, container] in containers
	some block, names in required
	some resource in names
	amounts := object.get(container, ["resources", block], {})
	not set(amounts, resource)
	msg := sprintf(
		"%s: %s `%s` has no %s %s; set resources.%s.%s on it (e.g. %s)",
		[
			subject, what, object.get(container, "name", "<unnamed>"),
			resource, singular[block], block, resource, example(block, resource),
		],
	)
}

service_amounts(block) := amounts if {
	amounts := obj.spec.resources[block]
	is_object(amounts)
} else := service_defaults[block]

set(amounts, resource) if {
	value := amounts[resource]
	value != null
	value != ""
}

example(block, resource) := object.get(examples, [block, resource], "a quantity")

# The object under review ------------------------------------------------------------------------

review := input.review

obj := review.object

checked_operation if {
	review.operation != "DELETE"
	is_object(obj)
}

is_service if {
	review.kind.group == "kommerce.io"
	review.kind.kind == "Service"
	checked_operation
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

# Ephemeral (debug) containers cannot declare resources, so only these two lists are checked.
container_fields := {"containers": "container", "initContainers": "init container"}

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
