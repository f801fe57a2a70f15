# METADATA
# title: PII services use transit encryption
# description: >-
#   A kommerce.io Service labelled data-classification=pii encrypts the personal data it stores
#   with an OpenBao transit key of its own: spec.dependencies.transit is true.
package kommerce.policies.pii_transit

# Parameters (spec.parameters of the Policy), all optional:
#   classifications: data-classification values that require transit encryption (default ["pii"]).
params := p if {
	p := input.parameters
	is_object(p)
} else := {}

classifications := object.get(params, "classifications", ["pii"])

violation contains {"msg": msg} if {
	is_service
	class := labels["data-classification"]
	class in classifications
	transit := object.get(obj, ["spec", "dependencies", "transit"], null)
	transit != true
	msg := sprintf(
		"%s: data-classification is `%s` but spec.dependencies.transit %s; set spec.dependencies.transit: true so its data is encrypted with its own OpenBao transit key",
		[subject, class, transit_state(transit)],
	)
}

transit_state(null) := "is not set"

transit_state(false) := "is false"

transit_state(value) := sprintf("is %v, not true", [value]) if {
	not is_boolean(value)
	value != null
}

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
