"""The product service's problem types (RFC 9457, see kommerce.http.errors)."""

from __future__ import annotations

from kommerce.http.errors import Problem


class CategoryCycle(Problem):
    status, slug, title = 409, "category-cycle", "A category cannot move under itself"


class CategoryNotEmpty(Problem):
    status, slug, title = 409, "category-not-empty", "The category still has children or products"


class VersionConflict(Problem):
    status, slug, title = 409, "version-conflict", "The resource changed since it was read"


class PreconditionRequired(Problem):
    status, slug, title = 428, "precondition-required", "Send If-Match or a version"


class ImageTooLarge(Problem):
    status, slug, title = 413, "image-too-large", "The image is too large"


class NotAnImage(Problem):
    status, slug, title = 415, "not-an-image", "The upload is not a supported image"


class InvalidAttribute(Problem):
    status, slug, title = 422, "invalid-attribute", "An attribute value is not allowed"
