# METADATA
# title: Tier-1 services run at least two replicas
# description: >-
#   A kommerce.io Service labelled tier=tier-1 (on the checkout path) survives the loss of one
#   pod or node: it runs at least parameters.minReplicas (default 2) replicas.
package kommerce.policies.tier1_replicas

# Parameters (spec.parameters of the Policy), all optional:
#   minReplicas: the fewest replicas a tier-1 Service may run (default 2).
params := p if {
	p := input.parameters
	is_object(p)
} else := {}

min_replicas := object.get(params, "minReplicas", 2)

violation contains {"msg": msg} if {
	is_service
	labels.tier == "tier-1"
	[replicas, field, how] := replica_count
	replicas < min_replicas
	msg := sprintf(
		"%s: tier-1 services need at least %d replicas but %s %s; %s",
		[subject, min_replicas, field, how, fix(field)],
	)
}

# [count, field, how it was found] as operators/service/children.py (desired_replicas) reads it:
# the autoscaler's floor (default 2), else spec.replicas, else 1.
replica_count := [n, "spec.autoscaling.minReplicas", sprintf("is %d", [n])] if {
	is_object(obj.spec.autoscaling)
	n := object.get(obj.spec.autoscaling, "minReplicas", 2)
} else := [n, "spec.replicas", sprintf("is %d", [n])] if {
	n := obj.spec.replicas
	is_number(n)
} else := [1, "spec.replicas", "is not set (it defaults to 1)"]

fix("spec.autoscaling.minReplicas") := sprintf("raise spec.autoscaling.minReplicas to %d or more", [min_replicas])

fix("spec.replicas") := sprintf(
	"set spec.replicas to %d or more (or use spec.autoscaling with minReplicas >= %d), or label the service tier-2 if it is not on the checkout path",
	[min_replicas, min_replicas],
)

# The object under review ------------------------------------------------------------------------

review := input.review

obj := review.object

is_service if {
	review.kind.group == "kommerce.io"
	review.kind.kind == "Service"
	review.operation != "DELETE"
	is_object(obj)
}

labels := l if {
	l := obj.metadata.labels
	is_object(l)
} else := {}

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
