package kommerce.policies.required_labels_test

import data.kommerce.policies.required_labels

good_labels := {"team": "checkout", "tier": "tier-1", "data-classification": "pii"}

service(labels) := {"review": {
	"kind": {"group": "kommerce.io", "version": "v1alpha1", "kind": "Service"},
	"operation": "CREATE",
	"namespace": "shop",
	"name": "order",
	"object": {
		"apiVersion": "kommerce.io/v1alpha1",
		"kind": "Service",
		"metadata": {"name": "order", "namespace": "shop", "labels": labels},
		"spec": {"image": "ghcr.io/kommerce/order", "version": "1.0.0"},
	},
}}

messages(inp) := {v.msg | some v in required_labels.violation with input as inp}

test_all_labels_present_is_allowed if {
	count(messages(service(good_labels))) == 0
}

test_every_tier_and_classification_is_accepted if {
	every tier in ["tier-1", "tier-2", "tier-3"] {
		every class in ["public", "internal", "confidential", "pii"] {
			count(messages(service({"team": "x", "tier": tier, "data-classification": class}))) == 0
		}
	}
}

test_missing_tier_is_denied_with_a_fix if {
	msgs := messages(service(object.remove(good_labels, ["tier"])))
	msgs == {"Service shop/order: label `tier` is missing; add metadata.labels.tier (tier-1|tier-2|tier-3)"}
}

test_missing_team_is_denied if {
	msgs := messages(service(object.remove(good_labels, ["team"])))
	msgs == {"Service shop/order: label `team` is missing; add metadata.labels.team (any non-empty value)"}
}

test_no_labels_at_all_reports_each_one if {
	inp := json.remove(service({}), ["review/object/metadata/labels"])
	msgs := messages(inp)
	count(msgs) == 3
	"Service shop/order: label `data-classification` is missing; add metadata.labels.data-classification (public|internal|confidential|pii)" in msgs
}

test_null_labels_are_missing if {
	count(messages(service(null))) == 3
}

test_unknown_tier_is_denied if {
	msgs := messages(service(object.union(good_labels, {"tier": "gold"})))
	msgs == {"Service shop/order: label `tier` is `gold`, which is not allowed; set metadata.labels.tier to one of tier-1|tier-2|tier-3"}
}

test_unknown_classification_is_denied if {
	msgs := messages(service(object.union(good_labels, {"data-classification": "secret"})))
	count(msgs) == 1
}

test_empty_team_is_denied if {
	msgs := messages(service(object.union(good_labels, {"team": ""})))
	msgs == {"Service shop/order: label `team` is empty; set metadata.labels.team to a non-empty value"}
}

test_empty_tier_is_reported_once if {
	msgs := messages(service(object.union(good_labels, {"tier": ""})))
	msgs == {"Service shop/order: label `tier` is empty; set metadata.labels.tier to one of tier-1|tier-2|tier-3"}
}

test_name_falls_back_to_the_object if {
	inp := json.remove(service({}), ["review/name", "review/namespace"])
	some msg in messages(inp)
	startswith(msg, "Service shop/order: ")
}

test_update_and_audit_are_checked if {
	every op in ["UPDATE", "AUDIT"] {
		inp := json.patch(service({}), [{"op": "replace", "path": "/review/operation", "value": op}])
		count(messages(inp)) == 3
	}
}

test_delete_is_ignored if {
	inp := json.patch(service({}), [
		{"op": "replace", "path": "/review/operation", "value": "DELETE"},
		{"op": "replace", "path": "/review/object", "value": null},
	])
	count(messages(inp)) == 0
}

test_core_v1_service_is_ignored if {
	inp := json.patch(service({}), [{"op": "replace", "path": "/review/kind", "value": {"group": "", "version": "v1", "kind": "Service"}}])
	count(messages(inp)) == 0
}

test_deployment_is_ignored if {
	inp := json.patch(service({}), [{"op": "replace", "path": "/review/kind", "value": {"group": "apps", "version": "v1", "kind": "Deployment"}}])
	count(messages(inp)) == 0
}

test_parameters_choose_the_labels if {
	params := {"labels": ["owner"], "allowedValues": {}}
	msgs := messages(object.union(service(good_labels), {"parameters": params}))
	msgs == {"Service shop/order: label `owner` is missing; add metadata.labels.owner (any non-empty value)"}
	count(messages(object.union(service({"owner": "a", "tier": "gold"}), {"parameters": params}))) == 0
}

test_parameters_choose_the_allowed_values if {
	params := {"allowedValues": {"tier": ["gold", "silver"]}}
	count(messages(object.union(service(object.union(good_labels, {"tier": "gold"})), {"parameters": params}))) == 0
	msgs := messages(object.union(service(good_labels), {"parameters": params}))
	msgs == {"Service shop/order: label `tier` is `tier-1`, which is not allowed; set metadata.labels.tier to one of gold|silver"}
}

test_label_keys_with_a_prefix_are_quoted if {
	msgs := messages(object.union(service(good_labels), {"parameters": {"labels": ["kommerce.io/owner"]}}))
	msgs == {concat("", ["Service shop/order: label `kommerce.io/owner` is missing; ", `add metadata.labels["kommerce.io/owner"] (any non-empty value)`])}
}

test_empty_parameters_use_the_defaults if {
	count(messages(object.union(service({}), {"parameters": {}}))) == 3
	count(messages(object.union(service({}), {"parameters": null}))) == 3
}
