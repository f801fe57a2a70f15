package kommerce.policies.tier1_replicas_test

import data.kommerce.policies.tier1_replicas

service(tier, spec) := {"review": {
	"kind": {"group": "kommerce.io", "version": "v1alpha1", "kind": "Service"},
	"operation": "CREATE",
	"namespace": "shop",
	"name": "order",
	"object": {
		"apiVersion": "kommerce.io/v1alpha1",
		"kind": "Service",
		"metadata": {"name": "order", "namespace": "shop", "labels": {"team": "checkout", "tier": tier}},
		"spec": object.union({"image": "ghcr.io/kommerce/order", "version": "1.0.0"}, spec),
	},
}}

with_params(inp, params) := object.union(inp, {"parameters": params})

messages(inp) := {v.msg | some v in tier1_replicas.violation with input as inp}

test_tier1_with_two_replicas_is_allowed if {
	count(messages(service("tier-1", {"replicas": 2}))) == 0
	count(messages(service("tier-1", {"replicas": 5}))) == 0
}

test_tier1_with_autoscaling_floor_of_two_is_allowed if {
	count(messages(service("tier-1", {"autoscaling": {"minReplicas": 2, "maxReplicas": 6}}))) == 0
	count(messages(service("tier-1", {"autoscaling": {"maxReplicas": 6}}))) == 0
}

test_tier1_with_one_replica_is_denied if {
	messages(service("tier-1", {"replicas": 1})) == {"Service shop/order: tier-1 services need at least 2 replicas but spec.replicas is 1; set spec.replicas to 2 or more (or use spec.autoscaling with minReplicas >= 2), or label the service tier-2 if it is not on the checkout path"}
}

test_tier1_scaled_to_zero_is_denied if {
	count(messages(service("tier-1", {"replicas": 0}))) == 1
}

test_tier1_without_replicas_defaults_to_one_and_is_denied if {
	messages(service("tier-1", {})) == {"Service shop/order: tier-1 services need at least 2 replicas but spec.replicas is not set (it defaults to 1); set spec.replicas to 2 or more (or use spec.autoscaling with minReplicas >= 2), or label the service tier-2 if it is not on the checkout path"}
}

test_tier1_with_autoscaling_floor_of_one_is_denied if {
	messages(service("tier-1", {"autoscaling": {"minReplicas": 1, "maxReplicas": 4}})) == {"Service shop/order: tier-1 services need at least 2 replicas but spec.autoscaling.minReplicas is 1; raise spec.autoscaling.minReplicas to 2 or more"}
}

test_other_tiers_may_run_one_replica if {
	count(messages(service("tier-2", {"replicas": 1}))) == 0
	count(messages(service("tier-3", {}))) == 0
}

test_unlabelled_services_are_left_to_required_labels if {
	inp := json.remove(service("tier-1", {"replicas": 1}), ["review/object/metadata/labels"])
	count(messages(inp)) == 0
}

test_update_and_audit_are_checked if {
	every op in ["UPDATE", "AUDIT"] {
		inp := json.patch(service("tier-1", {"replicas": 1}), [{"op": "replace", "path": "/review/operation", "value": op}])
		count(messages(inp)) == 1
	}
}

test_delete_is_ignored if {
	inp := json.patch(service("tier-1", {"replicas": 1}), [
		{"op": "replace", "path": "/review/operation", "value": "DELETE"},
		{"op": "replace", "path": "/review/object", "value": null},
	])
	count(messages(inp)) == 0
}

test_workloads_are_ignored if {
	inp := json.patch(service("tier-1", {"replicas": 1}), [{"op": "replace", "path": "/review/kind", "value": {"group": "apps", "version": "v1", "kind": "Deployment"}}])
	count(messages(inp)) == 0
}

test_parameters_set_the_minimum if {
	params := {"minReplicas": 3}
	messages(with_params(service("tier-1", {"replicas": 2}), params)) == {"Service shop/order: tier-1 services need at least 3 replicas but spec.replicas is 2; set spec.replicas to 3 or more (or use spec.autoscaling with minReplicas >= 3), or label the service tier-2 if it is not on the checkout path"}
	count(messages(with_params(service("tier-1", {"replicas": 3}), params))) == 0
	count(messages(with_params(service("tier-1", {"replicas": 1}), {"minReplicas": 1}))) == 0
}

test_empty_parameters_use_the_default if {
	count(messages(with_params(service("tier-1", {"replicas": 1}), {}))) == 1
	count(messages(with_params(service("tier-1", {"replicas": 2}), null))) == 0
}
