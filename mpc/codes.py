"""Every diagnostic code mpc can emit, with a one-line summary (docs/errors.md explains each)."""

from __future__ import annotations

CODES: dict[str, str] = {
    # E1xx: the file and its YAML
    "E101": "the file cannot be read",
    "E102": "the file is too large",
    "E103": "the text is not valid YAML",
    "E104": "a key appears twice in one mapping",
    "E105": "a YAML tag other than the standard ones",
    "E106": "aliases expand beyond the allowed bound",
    "E107": "the document is not a mapping, or there is more than one document",
    "E108": "a mapping key that is not a plain string",
    # E2xx: schema
    "E201": "unknown key",
    "E202": "a required key is missing",
    "E203": "a value has the wrong type",
    "E204": "a value is out of range or malformed",
    "E205": "unsupported apiVersion or kind",
    "E206": "a value is not one of the allowed choices",
    "E207": "a custom resource instance does not match its schema",
    "E208": "a plugin's extension block does not match its schema",
    # E3xx: references and the graph
    "E301": "a reference names something that does not exist",
    "E302": "dependency cycle",
    "E303": "two routes have the same prefix",
    "E304": "a route is shadowed by an earlier, shorter prefix",
    "E305": "a route names a service without an HTTP or gRPC port",
    "E306": "image without a tag, or tagged latest",
    "E307": "a secret value written as a literal",
    "E308": "a name is not a DNS-1123 label",
    "E309": "oauth2Client without auth.provider",
    "E310": "a name is used twice across services and external entries",
    "E311": "an archetype's requirements are not met",
    "E312": "a service depends on itself",
    "E313": "a generated object fails mpc's own analysis",
    "E314": "unknown archetype or backend",
    "E315": "the output would overwrite a file mpc does not own",
    # E4xx: governance
    "E401": "a service has no owner",
    "E402": "an image comes from a registry that is not allowed",
    "E403": "fewer replicas than the environment's minimum",
    "E404": "a protected name does not exist",
    # E5xx: plugins and validators
    "E501": "a plugin failed",
    "E502": "a real validator rejected the output",
    # Wxxx: warnings (reported, never fatal)
    "W301": "a GPU service is placed on a cluster without a GPU node pool",
    # E6xx: publishing to the GitOps repository
    "E601": "git failed, or the GitOps clone is not usable",
    "E602": "the GitOps folder has uncommitted changes",
}
