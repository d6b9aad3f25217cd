"""The ``microcred`` command: run the embedded stack and the platform; walk a demo through it."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from microcred_shared.conformance.cli import app as conformance_app
from microcred_shared.contracts.topics import dead_letter as dead_letter_name
from microcred_shared.kafka_auth import KafkaConnection
from microcred_shared.stack import control
from microcred_shared.stack.components import MissingToolError
from microcred_shared.stack.config import SERVICES, StackConfig
from microcred_shared.stack.daemon import GROUPS, components_of, running_pid
from microcred_shared.stack.smtp_sink import read_messages
from microcred_shared.stack.supervisor import StartupError

app = typer.Typer(
    help="microcred: evidence of learning in, signed Open Badges 3.0 micro-credentials out.",
    no_args_is_help=True,
    add_completion=False,
)
infra_app = typer.Typer(help="The embedded servers: Kafka, SecantusDB, SeaweedFS, SMTP sink.")
institution_app = typer.Typer(help="Institutions and their catalogues (platform administrators).")
mail_app = typer.Typer(help="Messages kept by the embedded SMTP sink.")
kafka_app = typer.Typer(
    help="Kafka: external reviewers' users, topics and ACLs; replaying dead letters."
)
issuer_app = typer.Typer(help="The issuer: institutions' signing keys (administrators).")
app.add_typer(infra_app, name="infra")
app.add_typer(mail_app, name="mail")
app.add_typer(institution_app, name="institution")
app.add_typer(kafka_app, name="kafka")
app.add_typer(issuer_app, name="issuer")
app.add_typer(conformance_app, name="conformance")


def _config() -> StackConfig:
    try:
        return StackConfig()
    except FileNotFoundError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc


def start_group(cfg: StackConfig, group: str) -> bool:
    try:
        return control.start_group(cfg, group)
    except MissingToolError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    except StartupError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc


stop_group = control.stop_group


def _health(cfg: StackConfig, group: str) -> list[tuple[str, str, bool]]:
    async def check_all() -> list[tuple[str, str, bool]]:
        results = []
        for component in components_of(cfg, group):
            try:
                healthy = await asyncio.wait_for(component.health(), 5)
            except Exception:  # noqa: BLE001 - unreachable means unhealthy
                healthy = False
            results.append((component.name, component.endpoint, healthy))
        return results

    return asyncio.run(check_all())


def _print_table(rows: list[tuple[str, str, bool]]) -> None:
    width = max(len(name) for name, _, _ in rows)
    for name, endpoint, healthy in rows:
        mark = typer.style("healthy", fg="green") if healthy else typer.style("down", fg="red")
        typer.echo(f"  {name.ljust(width)}  {mark:<18} {endpoint}")


@infra_app.command("up")
def infra_up() -> None:
    """Start the embedded servers in the background (no Docker needed) and wait for health."""
    cfg = _config()
    started = start_group(cfg, "infra")
    typer.echo("infra started" if started else "infra already running")
    _print_table(_health(cfg, "infra"))


@infra_app.command("fetch")
def infra_fetch() -> None:
    """Fetch Apache Kafka's jars from Maven Central (once per version of deploy/kafka/pom.xml)."""
    from microcred_shared.stack.components import ensure_kafka_jars  # noqa: PLC0415

    cfg = _config()
    try:
        asyncio.run(ensure_kafka_jars(cfg))
    except MissingToolError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"Kafka jars in {cfg.kafka_libs}")


@infra_app.command("down")
def infra_down() -> None:
    """Stop the embedded servers (their data stays in the data directory)."""
    cfg = _config()
    stop_group(cfg, "services")
    typer.echo("infra stopped" if stop_group(cfg, "infra") else "infra was not running")


@infra_app.command("status")
def infra_status() -> None:
    """Health of each embedded server; exits 1 if any is down."""
    cfg = _config()
    rows = _health(cfg, "infra")
    _print_table(rows)
    if not all(healthy for _, _, healthy in rows):
        raise typer.Exit(1)


@app.command("up")
def up(
    detach: Annotated[bool, typer.Option(help="Start in the background and return.")] = False,
) -> None:
    """Run the whole platform: the embedded servers, then the five services."""
    cfg = _config()
    infra_started = start_group(cfg, "infra")
    services_started = start_group(cfg, "services")
    typer.echo("microcred is up:")
    _print_table(_health(cfg, "infra") + _health(cfg, "services"))
    typer.echo(
        f"  logs in {cfg.logs}; 'microcred demo --out demo-output' walks one learner through"
    )
    if detach:
        return
    typer.echo("Press Ctrl-C to stop.")
    try:
        while running_pid(cfg, "services") is not None:
            time.sleep(1)
    except KeyboardInterrupt:
        typer.echo("\nstopping...")
    finally:
        if services_started:
            stop_group(cfg, "services")
        if infra_started:
            stop_group(cfg, "infra")


@app.command("down")
def down() -> None:
    """Stop the services and the embedded servers."""
    cfg = _config()
    for group in reversed(GROUPS):
        stop_group(cfg, group)
    typer.echo("microcred stopped")


@app.command("status")
def status() -> None:
    """Health of every server and service."""
    cfg = _config()
    rows = _health(cfg, "infra") + _health(cfg, "services")
    _print_table(rows)
    if not all(healthy for _, _, healthy in rows):
        raise typer.Exit(1)


@mail_app.command("list")
def mail_list() -> None:
    """Messages the SMTP sink kept, oldest first."""
    cfg = _config()
    for message in read_messages(cfg.maildir):
        typer.echo(f"{message['Date']}  to {message['To']}  {message['Subject']}")


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option(help="Where to write what the journey produced.")],
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each step.")] = 60.0,
) -> None:
    """Walk one learner through the journey on the running platform, writing what came out."""
    from microcred_shared.demo import DemoError, run_demo  # noqa: PLC0415

    cfg = _config()
    urls = {service: cfg.service_url(service) for service in SERVICES}
    try:
        asyncio.run(run_demo(urls, cfg.maildir, out, timeout, echo=typer.echo))
    except DemoError as exc:
        typer.echo(f"demo failed: {exc}", err=True)
        raise typer.Exit(1) from exc


def _read_verify_input(path: Path, what: str) -> bytes:
    try:
        with path.open("rb") as file:
            # One byte past the limit tells a file too large from one just at it.
            return file.read(4 * 1024 * 1024 + 1)
    except OSError as exc:
        typer.echo(f"cannot read {what} {path}: {exc}", err=True)
        raise typer.Exit(2) from exc


def _read_verify_json(path: Path, what: str) -> dict[str, Any]:
    import json  # noqa: PLC0415

    try:
        value = json.loads(_read_verify_input(path, what))
    except (ValueError, RecursionError) as exc:
        typer.echo(f"{what} {path} is not JSON: {exc}", err=True)
        raise typer.Exit(2) from exc
    if not isinstance(value, dict):
        typer.echo(f"{what} {path} is not a JSON object", err=True)
        raise typer.Exit(2)
    return value


def _verdict_lines(verdict: dict[str, Any]) -> list[str]:
    checks = verdict["checks"]
    failed, error = verdict.get("failed"), verdict.get("error", "")
    credential = verdict.get("credential") or {}

    def line(name: str, value: str) -> str:
        return f"  {name:<10} {value}"

    lines = [f"credential {credential.get('id', '(unread)')} ({verdict['format']})"]
    for name in ("signature", "issuer", "status", "dates"):
        value = checks.get(name)
        if failed == name:
            lines.append(line(name, f"FAILED: {error}"))
        elif name == "status" and value is None:
            lines.append(line(name, "not checked offline"))
        elif value is None or value is False:
            lines.append(line(name, "not checked"))
        elif value is True:
            lines.append(line(name, "passed"))
        else:
            lines.append(line(name, f"passed ({value})"))
    lines.extend(f"  note: {note}" for note in verdict.get("notes", []))
    if verdict["verified"]:
        lines.append("VALID")
    else:
        lines.append(f"INVALID: the {failed} check failed: {error}")
    return lines


@app.command("verify")
def verify(
    file: Annotated[
        Path, typer.Argument(help="The credential: JSON-LD with its proof, a VC-JWT, or a badge.")
    ],
    did_document: Annotated[
        list[Path],
        typer.Option(
            "--did-document",
            help="The issuer's DID document (did.json); repeat for several issuers.",
        ),
    ],
    status_list: Annotated[
        list[Path] | None,
        typer.Option(
            "--status-list",
            help="A status list credential the credential names (revocation, suspension).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Verify a credential offline, with its issuer's DID document: no network is used.

    FILE is a JSON-LD credential with its eddsa-rdfc-2022 proof, a VC-JWT, or a badge image
    (SVG or PNG) with one baked in. Checks the signature, the issuer (the DID document's
    assertion key signed it, and the DID is the credential's issuer) and the dates; the status
    only with the status lists it names given as --status-list files (else "status not
    checked offline"). Exits 0 if valid, 1 if a check failed (named in the output), 2 if the
    input cannot be used.
    """
    import json  # noqa: PLC0415

    try:
        # The verifier is the issuer's own code (its proofs, JWS and bundled contexts): the
        # shared package does not depend on the issuer's, so it is imported only here.
        from microcred_issuer.verification.inputs import UnusableInputError, sniff  # noqa: PLC0415
        from microcred_issuer.verification.offline import (  # noqa: PLC0415
            DidDocumentError,
            DidDocuments,
            verify_offline,
        )
    except ImportError as exc:  # pragma: no cover - the workspace installs it
        typer.echo(f"microcred verify needs the microcred-issuer package: {exc}", err=True)
        raise typer.Exit(2) from exc

    try:
        presented = sniff(_read_verify_input(file, "credential"))
    except UnusableInputError as exc:
        typer.echo(f"{file}: {exc.reason}", err=True)
        raise typer.Exit(2) from exc
    try:
        documents = DidDocuments.of(
            _read_verify_json(path, "DID document") for path in did_document
        )
    except DidDocumentError as exc:
        typer.echo(f"unusable DID document: {exc}", err=True)
        raise typer.Exit(2) from exc
    lists = [_read_verify_json(path, "status list") for path in status_list or []]
    verdict = verify_offline(presented, documents, lists)
    if as_json:
        typer.echo(json.dumps(verdict, indent=2))
    else:
        for text in _verdict_lines(verdict):
            typer.echo(text)
    if not verdict["verified"]:
        raise typer.Exit(1)


AdminEmail = Annotated[
    str, typer.Option(envvar="MICROCRED_ADMIN_EMAIL", help="A platform administrator's e-mail.")
]
AdminPassword = Annotated[
    str,
    typer.Option(
        envvar="MICROCRED_ADMIN_PASSWORD",
        prompt=True,
        hide_input=True,
        help="Their password (asked for when not in MICROCRED_ADMIN_PASSWORD).",
    ),
]
IntakeUrl = Annotated[
    str | None, typer.Option(help="Intake's URL; default: the embedded platform's.")
]


ReviewUrl = Annotated[
    str | None, typer.Option(help="Review's URL; default: the embedded platform's.")
]


def _admin_call(
    intake_url: str | None,
    email: str,
    password: str,
    method: str,
    path: str,
    body: object,
    *,
    service_url: str | None = None,
) -> dict[str, object]:
    """Log in at intake, then call ``path`` at ``service_url`` (default: intake itself)."""
    import httpx  # noqa: PLC0415

    base = intake_url or _config().service_url("intake")
    with httpx.Client(base_url=base, timeout=30) as http:
        token = http.post("/auth/token", json={"email": email, "password": password})
        if token.is_error:
            typer.echo(f"login refused: {token.json().get('detail', token.text)}", err=True)
            raise typer.Exit(1)
        response = http.request(
            method,
            f"{service_url}{path}" if service_url else path,
            json=body,
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        )
    if response.is_error:
        problem = response.json()
        typer.echo(f"{problem.get('title')}: {problem.get('detail', '')}", err=True)
        raise typer.Exit(1)
    if response.status_code == 204:  # noqa: PLR2004 - No Content
        return {}
    result: dict[str, object] = response.json()
    return result


AccountingUrl = Annotated[
    str | None, typer.Option(help="Accounting's URL; default: the embedded platform's.")
]
IssuerUrl = Annotated[
    str | None, typer.Option(help="Issuer's URL; default: the embedded platform's.")
]
NotifierUrl = Annotated[
    str | None, typer.Option(help="Notifier's URL; default: the embedded platform's.")
]


def _intake_institution(intake_url: str | None, institution_id: str) -> dict[str, Any]:
    """The institution and its catalogue, as intake has them (public)."""
    import httpx  # noqa: PLC0415

    base = intake_url or _config().service_url("intake")
    found = httpx.get(f"{base}/institutions/{institution_id}", timeout=30)
    if found.is_error:
        typer.echo(f"no institution {institution_id} at {base}", err=True)
        raise typer.Exit(1)
    institution: dict[str, Any] = found.json()
    return institution


def _register_at_issuer(
    institution: dict[str, Any],
    intake_url: str | None,
    email: str,
    password: str,
    issuer_url: str | None,
) -> None:
    """Register the institution (as intake has it) at the issuer: its first key, its competences.

    The issuer signs only for institutions registered with it, and only their competences.
    """
    competences = institution.get("competences", [])
    registered = _admin_call(
        intake_url,
        email,
        password,
        "PUT",
        f"/institutions/{institution['id']}",
        {
            "name": institution["name"],
            "country": institution["country"],
            "competences": [c["id"] for c in competences if isinstance(c, dict)],
        },
        service_url=issuer_url or _config().service_url("issuer"),
    )
    typer.echo(f"issuer: signs as {registered['key_id']}")


def _read_json_object(file: Path) -> dict[str, Any]:
    import json  # noqa: PLC0415

    try:
        body = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        typer.echo(f"cannot read {file}: {exc}", err=True)
        raise typer.Exit(2) from exc
    if not isinstance(body, dict):
        typer.echo(f"{file}: expected a JSON object", err=True)
        raise typer.Exit(2)
    return body


def _pathway_body(institution: dict[str, Any], pathway_id: str, pathway: object) -> object:
    """A pathway as accounting takes it, awarded by ``institution``.

    Its own components must be in its catalogue (a partner's are the partner's business).
    """
    if not isinstance(pathway, dict):
        typer.echo(f"pathway {pathway_id}: expected a JSON object", err=True)
        raise typer.Exit(2)
    own = {c["id"] for c in institution.get("competences", [])}
    unknown = [
        c.get("competence_id")
        for c in pathway.get("components", [])
        if isinstance(c, dict)
        and c.get("institution_id") == institution["id"]
        and c.get("competence_id") not in own
    ]
    if unknown:
        missing = ", ".join(map(str, unknown))
        typer.echo(
            f"pathway {pathway_id}: not in {institution['id']}'s catalogue: {missing}", err=True
        )
        raise typer.Exit(2)
    return pathway


def _define_pathways(
    institution: dict[str, Any],
    pathways: object,
    call: AccountingCall,
) -> None:
    if not isinstance(pathways, dict):
        typer.echo("pathways: expected an object of pathway id to pathway", err=True)
        raise typer.Exit(2)
    for pathway_id, pathway in pathways.items():
        body = _pathway_body(institution, pathway_id, pathway)
        defined = call("PUT", f"/institutions/{institution['id']}/pathways/{pathway_id}", body)
        typer.echo(f"pathway {pathway_id} defined ({defined['rule']}, {defined['title']})")


AccountingCall = Callable[[str, str, object], dict[str, object]]


def _at_accounting(
    intake_url: str | None, email: str, password: str, accounting_url: str | None
) -> AccountingCall:
    def call(method: str, path: str, payload: object) -> dict[str, object]:
        return _admin_call(
            intake_url,
            email,
            password,
            method,
            path,
            payload,
            service_url=accounting_url or _config().service_url("accounting"),
        )

    return call


def _share_awards(institution_id: str, awarding_ids: object, call: AccountingCall) -> None:
    if not isinstance(awarding_ids, list) or not all(isinstance(a, str) for a in awarding_ids):
        typer.echo("shares_awards_with: expected a list of institution ids", err=True)
        raise typer.Exit(2)
    for awarding_id in awarding_ids:
        call("PUT", f"/institutions/{institution_id}/award-sharing/{awarding_id}", None)
        typer.echo(f"{institution_id} shares its awards with {awarding_id}")


_LOGO_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}


def _claim_settings_body(claims: object, relative_to: Path) -> dict[str, Any]:
    """The ``claims`` section as the notifier takes it: a ``logo_file`` becomes the logo."""
    if not isinstance(claims, dict):
        typer.echo("claims: expected an object (second_check, privacy_terms, ...)", err=True)
        raise typer.Exit(2)
    body = dict(claims)
    logo_file = body.pop("logo_file", None)
    if logo_file is not None:
        path = relative_to / str(logo_file)
        try:
            data = path.read_bytes()
        except OSError as exc:
            typer.echo(f"claims.logo_file: cannot read {path}: {exc.strerror}", err=True)
            raise typer.Exit(2) from exc
        media_type = next((t for magic, t in _LOGO_TYPES.items() if data.startswith(magic)), None)
        if media_type is None:
            typer.echo(f"claims.logo_file: {path} is neither PNG nor JPEG", err=True)
            raise typer.Exit(2)
        body["logo"] = {"media_type": media_type, "data_base64": base64.b64encode(data).decode()}
    return body


def _set_claim_settings(
    institution_id: str,
    claims: object,
    relative_to: Path,
    intake_url: str | None,
    email: str,
    password: str,
    notifier_url: str | None,
) -> None:
    settings = _admin_call(
        intake_url,
        email,
        password,
        "PUT",
        f"/institutions/{institution_id}/claim-settings",
        _claim_settings_body(claims, relative_to),
        service_url=notifier_url or _config().service_url("notifier"),
    )
    terms = settings.get("privacy_terms")
    version = terms.get("version") if isinstance(terms, dict) else "the platform default"
    typer.echo(f"claims: second check {settings['second_check']}, privacy terms {version}")


@institution_app.command("claim-settings")
def institution_claim_settings(
    institution_id: str,
    file: Annotated[Path, typer.Argument(help="JSON: the onboarding file's claims section.")],
    admin_email: AdminEmail = "admin@microcred.localhost",
    admin_password: AdminPassword = "",
    intake_url: IntakeUrl = None,
    notifier_url: NotifierUrl = None,
) -> None:
    """Set how the institution's learners claim (second check, privacy terms, logo, link life)."""
    _set_claim_settings(
        institution_id,
        _read_json_object(file),
        file.parent,
        intake_url,
        admin_email,
        admin_password,
        notifier_url,
    )


@institution_app.command("onboard")
def institution_onboard(
    file: Annotated[Path, typer.Argument(help="JSON: the institution and its catalogue.")],
    admin_email: AdminEmail = "admin@microcred.localhost",
    admin_password: AdminPassword = "",
    intake_url: IntakeUrl = None,
    review_url: ReviewUrl = None,
    accounting_url: AccountingUrl = None,
    issuer_url: IssuerUrl = None,
    notifier_url: NotifierUrl = None,
) -> None:
    """Onboard an institution from a JSON file (see docs/institution.example.json).

    The institution is created at intake, then registered at the issuer, which makes its
    first signing key (it signs only for institutions registered with it). Its ``review``
    section, if any, sets how it reviews evidence (at review); its ``pathways`` section
    defines its pathways, and ``shares_awards_with`` names the institutions whose pathways
    may count its awards (both at accounting); its ``claims`` section sets how its learners
    claim their credentials (at the notifier).
    """
    body = _read_json_object(file)
    claims = body.pop("claims", None)
    review = body.pop("review", None)
    pathways = body.pop("pathways", None)
    sharing = body.pop("shares_awards_with", None)
    created = _admin_call(intake_url, admin_email, admin_password, "POST", "/institutions", body)
    competences = created.get("competences", [])
    count = len(competences) if isinstance(competences, list) else 0
    typer.echo(f"onboarded {created['id']} ({created['name']}) with {count} competences")
    _register_at_issuer(created, intake_url, admin_email, admin_password, issuer_url)
    if review is not None:
        settings = _admin_call(
            intake_url,
            admin_email,
            admin_password,
            "PUT",
            f"/institutions/{created['id']}/review-settings",
            review,
            service_url=review_url or _config().service_url("review"),
        )
        typer.echo(f"review mode {settings['mode']}")
    at_accounting = _at_accounting(intake_url, admin_email, admin_password, accounting_url)
    if pathways is not None:
        _define_pathways(created, pathways, at_accounting)
    if sharing is not None:
        _share_awards(str(created["id"]), sharing, at_accounting)
    if claims is not None:
        _set_claim_settings(
            str(created["id"]),
            claims,
            file.parent,
            intake_url,
            admin_email,
            admin_password,
            notifier_url,
        )


@institution_app.command("pathway")
def institution_pathway(
    institution_id: str,
    file: Annotated[Path, typer.Argument(help="JSON: an object of pathway id to pathway.")],
    admin_email: AdminEmail = "admin@microcred.localhost",
    admin_password: AdminPassword = "",
    intake_url: IntakeUrl = None,
    accounting_url: AccountingUrl = None,
) -> None:
    """Define (or redefine) an institution's pathways, as the onboarding file's section does."""
    import httpx  # noqa: PLC0415

    base = intake_url or _config().service_url("intake")
    found = httpx.get(f"{base}/institutions/{institution_id}", timeout=30)
    if found.is_error:
        typer.echo(f"no institution {institution_id} at {base}", err=True)
        raise typer.Exit(1)
    _define_pathways(
        found.json(),
        _read_json_object(file),
        _at_accounting(intake_url, admin_email, admin_password, accounting_url),
    )


@institution_app.command("share-awards")
def institution_share_awards(
    institution_id: str,
    awarding_id: Annotated[
        str, typer.Argument(help="The institution whose pathways may count them.")
    ],
    stop: Annotated[bool, typer.Option(help="Stop sharing (awarded pathways stand).")] = False,
    admin_email: AdminEmail = "admin@microcred.localhost",
    admin_password: AdminPassword = "",
    intake_url: IntakeUrl = None,
    accounting_url: AccountingUrl = None,
) -> None:
    """Let an institution's competence awards count toward a partner's pathways (or stop)."""
    call = _at_accounting(intake_url, admin_email, admin_password, accounting_url)
    if stop:
        call("DELETE", f"/institutions/{institution_id}/award-sharing/{awarding_id}", None)
        typer.echo(f"{institution_id} no longer shares its awards with {awarding_id}")
    else:
        _share_awards(institution_id, [awarding_id], call)


@institution_app.command("import-catalogue")
def institution_import_catalogue(
    institution_id: str,
    catalogue: Annotated[str, typer.Argument(help="digcomp-2.2 or greencomp")],
    admin_email: AdminEmail = "admin@microcred.localhost",
    admin_password: AdminPassword = "",
    intake_url: IntakeUrl = None,
    issuer_url: IssuerUrl = None,
) -> None:
    """Add a starter catalogue's competences to an institution's catalogue (and the issuer's).

    The issuer's list of the institution's competences is updated too: it signs awards only
    of competences registered with it (a platform administrator's act).
    """
    result = _admin_call(
        intake_url,
        admin_email,
        admin_password,
        "POST",
        f"/institutions/{institution_id}/catalogue/import/{catalogue}",
        None,
    )
    typer.echo(
        f"imported {result['imported']} competences of {catalogue}; {result['total']} in all"
    )
    _register_at_issuer(
        _intake_institution(intake_url, institution_id),
        intake_url,
        admin_email,
        admin_password,
        issuer_url,
    )


@issuer_app.command("register")
def issuer_register(
    institution_id: str,
    admin_email: AdminEmail = "admin@microcred.localhost",
    admin_password: AdminPassword = "",
    intake_url: IntakeUrl = None,
    issuer_url: IssuerUrl = None,
) -> None:
    """Register an institution onboarded at intake with the issuer (idempotent).

    Onboarding does it; this repeats it, for an institution onboarded before the issuer kept
    its own record of the institutions it signs for, or whose onboarding stopped half-way.
    """
    _register_at_issuer(
        _intake_institution(intake_url, institution_id),
        intake_url,
        admin_email,
        admin_password,
        issuer_url,
    )


@issuer_app.command("rotate-key")
def issuer_rotate_key(
    institution_id: str,
    admin_email: AdminEmail = "admin@microcred.localhost",
    admin_password: AdminPassword = "",
    intake_url: IntakeUrl = None,
    issuer_url: IssuerUrl = None,
) -> None:
    """Give an institution a new signing key; the old one is retired, still verifying."""
    rotated = _admin_call(
        intake_url,
        admin_email,
        admin_password,
        "POST",
        f"/institutions/{institution_id}/keys/rotate",
        None,
        service_url=issuer_url or _config().service_url("issuer"),
    )
    typer.echo(f"{institution_id} now signs with {rotated['key_id']}")
    methods = rotated.get("verification_methods")
    for method in methods if isinstance(methods, list) else []:
        typer.echo(f"  verifies with {method['id']}")


@app.command("asyncapi")
def asyncapi(
    out: Annotated[Path, typer.Option(help="Folder for <service>.json.")] = Path("docs/asyncapi"),
) -> None:
    """Write each service's AsyncAPI 3.0 document, and the review contract's, from the code."""
    from microcred_shared.specification import asyncapi_documents  # noqa: PLC0415

    out.mkdir(parents=True, exist_ok=True)
    for service, document in asyncapi_documents().items():
        path = out / f"{service}.json"
        path.write_text(document)
        typer.echo(f"wrote {path}")


def _kafka_admin_connection() -> KafkaConnection:
    """``MICROCRED_KAFKA_ADMIN_*`` when set; otherwise the running embedded broker's admin."""
    from microcred_shared.kafka_admin import KafkaAdminSettings  # noqa: PLC0415

    try:
        configured = KafkaAdminSettings().connection()
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    if configured is not None:
        return configured
    cfg = _config()
    if running_pid(cfg, "infra") is None:
        typer.echo(
            f"the embedded stack ({cfg.data_dir}) is not running: start it with "
            "'microcred infra up', or name another Kafka with "
            "MICROCRED_KAFKA_ADMIN_BOOTSTRAP_SERVERS",
            err=True,
        )
        raise typer.Exit(1)
    return cfg.kafka_admin()


@kafka_app.command("replay-dead-letters")
def kafka_replay_dead_letters(
    topic: Annotated[
        str, typer.Argument(help="The topic the records were refused on (not its .dlq).")
    ],
    institution: Annotated[
        str | None, typer.Option(help="Only the records of this institution (their tenant).")
    ] = None,
    since: Annotated[
        datetime | None,
        typer.Option(help="Only records dead-lettered at or after this time (ISO 8601, UTC)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be replayed; publish nothing.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the broker.")] = 30.0,
) -> None:
    """Publish the records of TOPIC's dead-letter topic to TOPIC again, once the cause is fixed.

    Each record goes back with its key and headers; its reason is printed. Consumers are
    idempotent, so a record replayed twice changes nothing more; one still refused is
    dead-lettered again with its reason. Connects as the Kafka administrator (as
    'microcred kafka reviewer' does).
    """
    from microcred_shared.contracts import topics as known  # noqa: PLC0415
    from microcred_shared.dead_letters import replay  # noqa: PLC0415

    if topic not in known.ALL:
        typer.echo(f"{topic} is not one of the platform's topics: {', '.join(known.ALL)}", err=True)
        raise typer.Exit(2)
    moment = since.replace(tzinfo=since.tzinfo or UTC) if since is not None else None
    try:
        letters = asyncio.run(
            replay(
                _kafka_admin_connection(),
                topic,
                institution=institution,
                since=moment,
                dry_run=dry_run,
                timeout=timeout,
            )
        )
    except (LookupError, TimeoutError, OSError) as exc:
        typer.echo(f"replay failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    verb = "would replay" if dry_run else "replayed"
    for letter in letters:
        key = letter.key.decode(errors="replace") if letter.key else "-"
        typer.echo(
            f"{verb} {dead_letter_name(topic)}@{letter.partition}:{letter.offset} "
            f"{letter.dead_lettered_at.isoformat(timespec='seconds')} "
            f"institution={letter.institution or '-'} key={key} reason: {letter.reason}"
        )
    typer.echo(f"{len(letters)} record(s) {verb} to {topic}")


@kafka_app.command("reviewer")
def kafka_reviewer(
    institution_id: Annotated[str, typer.Argument(help="The institution whose reviewer it is.")],
    out: Annotated[
        Path | None,
        typer.Option(help="Write the credentials to this file (mode 0600) instead of stdout."),
    ] = None,
    bootstrap_servers: Annotated[
        str | None,
        typer.Option(help="What the reviewer connects to; default: the admin connection's."),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the broker.")] = 30.0,
    revoke: Annotated[
        bool,
        typer.Option(
            "--revoke",
            help="Take back the reviewer's ACLs and login instead (e.g. back to builtin mode).",
        ),
    ] = False,
) -> None:
    """Provision an institution's external review service and give its credentials as JSON.

    Creates the institution's review topics, the SCRAM user reviewer-INSTITUTION_ID with a new
    password (running it again replaces the password: the old one stops working) and its ACLs:
    read its requests, write its decisions, read the refusals of its decisions, consumer groups
    named reviewer-INSTITUTION_ID:*; nothing else.

    On the running embedded stack by default; on any Kafka given
    MICROCRED_KAFKA_ADMIN_BOOTSTRAP_SERVERS, _SECURITY_PROTOCOL (SASL_PLAINTEXT by default),
    _SASL_MECHANISM (SCRAM-SHA-512 by default), _SASL_USERNAME and _SASL_PASSWORD: a principal
    that may create topics, SCRAM users and ACLs.
    """
    import json  # noqa: PLC0415

    from microcred_shared.kafka_admin import (  # noqa: PLC0415
        KafkaAdminError,
        provision_external_reviewer,
        revoke_external_reviewer,
    )
    from microcred_shared.stack.kafka_security import write_private_file  # noqa: PLC0415

    admin = _kafka_admin_connection()
    try:
        if revoke:
            username = asyncio.run(revoke_external_reviewer(admin, institution_id, timeout=timeout))
            typer.echo(f"{username} may no longer log in, read or write anything")
            return
        reviewer = asyncio.run(
            provision_external_reviewer(
                admin, institution_id, bootstrap_servers=bootstrap_servers, timeout=timeout
            )
        )
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    except KafkaAdminError as exc:
        typer.echo(f"kafka: {exc}", err=True)
        raise typer.Exit(1) from exc
    document = json.dumps(reviewer.to_json(), indent=2) + "\n"
    if out is None:
        typer.echo(document, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    write_private_file(out, document, replace=True)
    typer.echo(f"credentials of {reviewer.username} written to {out} (readable by you only)")
