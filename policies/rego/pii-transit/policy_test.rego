package kommerce.policies.pii_transit_test

import data.kommerce.policies.pii_transit

service(class, dependencies) := {"review": {
	"kind": {"group": "kommerce.io", "version": "v1alpha1", "kind": "Service"},
	"operation": "CREATE",
	"namespace": "shop",
	"name": "user",
	"object": {
		"apiVersion": "kommerce.io/v1alpha1",
		"kind": "Service",
		"metadata": {"name": "user", "namespace": "shop", "labels": {"team": "identity", "tier": "tier-1", "data-classification": class}},
		"spec": {"image": "ghcr.io/kommerce/user", "version": "1.0.0", "dependencies": dependencies},
	},
}}

with_params(inp, params) := object.union(inp, {"parameters": params})

messages(inp) := {v.msg | some v in pii_transit.violation with input as inp}

test_pii_with_transit_is_allowed if {
	count(messages(service("pii", {"database": {}, "transit": true}))) == 0
}

test_pii_without_transit_is_denied if {
	messages(service("pii", {"database": {}})) == {"Service shop/user: data-classification is `pii` but spec.dependencies.transit is not set; set spec.dependencies.transit: true so its data is encrypted with its own OpenBao transit key"}
}

test_pii_without_dependencies_is_denied if {
	inp := json.remove(service("pii", {}), ["review/object/spec/dependencies"])
	count(messages(inp)) == 1
}

test_pii_with_transit_false_is_denied if {
	messages(service("pii", {"transit": false})) == {"Service shop/user: data-classification is `pii` but spec.dependencies.transit is false; set spec.dependencies.transit: true so its data is encrypted with its own OpenBao transit key"}
}

test_pii_with_a_non_boolean_transit_is_denied if {
	messages(service("pii", {"transit": "yes"})) == {"Service shop/user: data-classification is `pii` but spec.dependencies.transit is yes, not true; set spec.dependencies.transit: true so its data is encrypted with its own OpenBao transit key"}
}

test_other_classifications_need_no_transit if {
	every class in ["public", "internal", "confidential"] {
		count(messages(service(class, {}))) == 0
	}
}

test_unlabelled_services_are_left_to_required_labels if {
	inp := json.remove(service("pii", {}), ["review/object/metadata/labels"])
	count(messages(inp)) == 0
}

test_update_and_audit_are_checked if {
	every op in ["UPDATE", "AUDIT"] {
		inp := json.patch(service("pii", {"transit": false}), [{"op": "replace", "path": "/review/operation", "value": op}])
		count(messages(inp)) == 1
	}
}

test_delete_is_ignored if {
	inp := json.patch(service("pii", {}), [
		{"op": "replace", "path": "/review/operation", "value": "DELETE"},
		{"op": "replace", "path": "/review/object", "value": null},
	])
	count(messages(inp)) == 0
}

test_other_kinds_are_ignored if {
	every kind in [{"group": "", "version": "v1", "kind": "Service"}, {"group": "apps", "version": "v1", "kind": "Deployment"}] {
		inp := json.patch(service("pii", {}), [{"op": "replace", "path": "/review/kind", "value": kind}])
		count(messages(inp)) == 0
	}
}

test_parameters_set_the_classifications if {
	params := {"classifications": ["pii", "confidential"]}
	count(messages(with_params(service("confidential", {}), params))) == 1
	count(messages(with_params(service("confidential", {"transit": true}), params))) == 0
	count(messages(with_params(service("pii", {}), {"classifications": []}))) == 0
}

test_empty_parameters_use_the_default if {
	count(messages(with_params(service("pii", {}), {}))) == 1
	count(messages(with_params(service("confidential", {}), null))) == 0
}
