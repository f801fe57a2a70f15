# METADATA
# title: Required labels
# description: >-
#   kommerce.io Services carry the labels the platform routes ownership, criticality and data
#   handling on: team, tier (tier-1|tier-2|tier-3) and data-classification
#   (public|internal|confidential|pii).
package kommerce.policies.required_labels

# Parameters (spec.parameters of the Policy), all optional:
#   labels:        label keys every Service must carry (non-empty values).
#   allowedValues: label key -> the values it may take (checked whenever the label is present).
default_labels := ["team", "tier", "data-classification"]

default_allowed_values := {
	"tier": ["tier-1", "tier-2", "tier-3"],
	"data-classification": ["public", "internal", "confidential", "pii"],
}

params := p if {
	p := input.parameters
	is_object(p)
} else := {}

required_labels := object.get(params, "labels", default_labels)

allowed_values := object.get(params, "allowedValues", default_allowed_values)

violation contains {"msg": msg} if {
	is_service
	some key in required_labels
	not has_label(key)
	msg := sprintf("%s: label `%s` is missing; add %s %s", [subject, key, label_path(key), hint(key)])
}

violation contains {"msg": msg} if {
	is_service
	some key, value in labels
	value == ""
	checked(key)
	msg := sprintf("%s: label `%s` is empty; set %s to %s", [subject, key, label_path(key), wanted(key)])
}

violation contains {"msg": msg} if {
	is_service
	some key, value in labels
	value != ""
	choices := allowed_values[key]
	count(choices) > 0
	not value in choices
	msg := sprintf(
		"%s: label `%s` is `%s`, which is not allowed; set %s to one of %s",
		[subject, key, value, label_path(key), concat("|", choices)],
	)
}

has_label(key) if is_string(labels[key])

checked(key) if key in required_labels

checked(key) if count(allowed_values[key]) > 0

hint(key) := sprintf("(%s)", [concat("|", allowed_values[key])]) if {
	count(allowed_values[key]) > 0
} else := "(any non-empty value)"

wanted(key) := sprintf("one of %s", [concat("|", allowed_values[key])]) if {
	count(allowed_values[key]) > 0
} else := "a non-empty value"

label_path(key) := sprintf("metadata.labels.%s", [key]) if {
	regex.match(`^[A-Za-z0-9_-]+$`, key)
} else := sprintf("metadata.labels[%q]", [key])

# The object under review -----------------------------------------------------------------------

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
