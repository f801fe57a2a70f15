# METADATA
# title: Allowed images
# description: >-
#   Images come only from the allowed registries and are pinned: never `:latest`, never
#   untagged (which means latest). A digest (@sha256:...) is always pinned enough.
package kommerce.policies.allowed_images

# Parameters (spec.parameters of the Policy), all optional:
#   registries: image prefixes that are allowed (default ["ghcr.io/kommerce/"]); include the
#               trailing slash so "ghcr.io/kommerce/" does not also allow "ghcr.io/kommerce-evil/".
default_registries := ["ghcr.io/kommerce/"]

params := p if {
	p := input.parameters
	is_object(p)
} else := {}

registries := object.get(params, "registries", default_registries)

# kommerce.io Service: the image the operator will run is spec.image as it is when it carries a
# tag or digest, else spec.image:spec.version (operators/service/children.py: image_ref).

violation contains {"msg": msg} if {
	is_service
	image := service_image
	not allowed_registry(image)
	msg := sprintf(
		"%s: image `%s` is not from an allowed registry; set spec.image to an image under %s",
		[subject, image, registry_list],
	)
}

violation contains {"msg": msg} if {
	is_service
	lower(object.get(obj.spec, "version", "")) == "latest"
	msg := sprintf(
		"%s: spec.version is `latest`, which is not a pinned version; set spec.version to a release (e.g. 1.4.2)",
		[subject],
	)
}

violation contains {"msg": msg} if {
	is_service
	lower(tag(obj.spec.image)) == "latest"
	msg := sprintf(
		"%s: spec.image `%s` carries the tag `latest`; drop the tag from spec.image and set spec.version to a release, or pin a digest (@sha256:...)",
		[subject, obj.spec.image],
	)
}

service_image := obj.spec.image if {
	pinned_or_tagged(obj.spec.image)
} else := sprintf("%s:%s", [obj.spec.image, object.get(obj.spec, "version", "")])

pinned_or_tagged(image) if has_digest(image)

pinned_or_tagged(image) if tag(image)

# Workloads and Pods: every container, init container and ephemeral container.

violation contains {"msg": msg} if {
	some [what, container] in containers
	image := object.get(container, "image", "")
	not allowed_registry(image)
	msg := sprintf(
		"%s: %s `%s` image `%s` is not from an allowed registry; use an image under %s",
		[subject, what, object.get(container, "name", "<unnamed>"), image, registry_list],
	)
}

violation contains {"msg": msg} if {
	some [what, container] in containers
	image := object.get(container, "image", "")
	image != ""
	not has_digest(image)
	not tag(image)
	msg := sprintf(
		"%s: %s `%s` image `%s` has no tag, which means `latest`; pin a version tag (e.g. %s:1.4.2) or a digest (@sha256:...)",
		[subject, what, object.get(container, "name", "<unnamed>"), image, image],
	)
}

violation contains {"msg": msg} if {
	some [what, container] in containers
	image := object.get(container, "image", "")
	lower(tag(image)) == "latest"
	msg := sprintf(
		"%s: %s `%s` image `%s` uses the tag `latest`; pin a version tag or a digest (@sha256:...)",
		[subject, what, object.get(container, "name", "<unnamed>"), image],
	)
}

# Image references -------------------------------------------------------------------------------

allowed_registry(image) if {
	some prefix in registries
	startswith(image, prefix)
}

registry_list := concat(" or ", registries) if {
	count(registries) > 0
} else := "(none: the Policy's parameters.registries is empty)"

has_digest(image) if contains(image, "@")

# The tag of an image without a digest: after the last ":" of the last path segment (a ":" before
# the last "/" is a registry port, as in localhost:5000/shop/order).
tag(image) := t if {
	not has_digest(image)
	segments := split(image, "/")
	last := segments[count(segments) - 1]
	contains(last, ":")
	parts := split(last, ":")
	t := parts[count(parts) - 1]
}

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
