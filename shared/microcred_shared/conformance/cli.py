"""``microcred conformance``: check an institution's own services against microcred's contracts."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer

app = typer.Typer(
    help="Conformance kits: check an institution's own services against microcred's contracts.",
    no_args_is_help=True,
)

KAFKA = "Kafka (default: MICROCRED_CONFORMANCE_KAFKA_*, then MICROCRED_KAFKA_*)"
EVALUATOR = "Evaluator driver (for a reviewer that needs a human, like the built-in one)"
CHECKS = "What the kit sends and waits for"


def _settings(values: dict[str, Any]) -> Any:
    from pydantic import ValidationError  # noqa: PLC0415

    from microcred_shared.conformance.review import KitSettings  # noqa: PLC0415

    given = {name: value for name, value in values.items() if value is not None}
    try:
        settings = KitSettings(**given)
        if "kafka_bootstrap_servers" in settings.model_fields_set:
            return settings
        # Nothing names a Kafka: the running embedded stack's, as its platform connects to it.
        return KitSettings(**{**_embedded_platform_kafka(), **given})
    except ValidationError as exc:
        typer.echo(f"invalid Kafka settings: {exc}", err=True)
        raise typer.Exit(2) from exc


def _embedded_platform_kafka() -> dict[str, object]:
    from microcred_shared.kafka_auth import KafkaConnection  # noqa: PLC0415
    from microcred_shared.stack.config import StackConfig  # noqa: PLC0415
    from microcred_shared.stack.kafka_security import read_kafka_secrets  # noqa: PLC0415

    try:
        config = StackConfig()
    except FileNotFoundError:
        return {}
    found = read_kafka_secrets(config.data_dir)
    connection = KafkaConnection(config.kafka_bootstrap, found.platform() if found else None)
    return connection.settings_values()


def _embedded_url(service: str) -> str:
    from microcred_shared.stack.config import StackConfig  # noqa: PLC0415

    return StackConfig().service_url(service)


@app.command("review")
def review(
    institution: Annotated[
        str, typer.Argument(help="The institution whose reviewer is checked (a staging one).")
    ],
    deadline: Annotated[
        float,
        typer.Option(
            min=0.1,
            help="Seconds each request may wait for its decision; foreign requests must stay "
            "unanswered as long.",
            rich_help_panel=CHECKS,
        ),
    ] = 30.0,
    grace: Annotated[
        float,
        typer.Option(
            min=0,
            help="Seconds to keep watching after the last redelivery, for a second answer.",
            rich_help_panel=CHECKS,
        ),
    ] = 5.0,
    requests: Annotated[
        int, typer.Option(min=1, help="Requests of the institution.", rich_help_panel=CHECKS)
    ] = 6,
    redelivered: Annotated[
        int,
        typer.Option(
            min=1, help="How many of them are delivered three times.", rich_help_panel=CHECKS
        ),
    ] = 2,
    foreign: Annotated[
        int,
        typer.Option(
            min=1,
            help="Requests of another institution, published on this one's topic.",
            rich_help_panel=CHECKS,
        ),
    ] = 2,
    foreign_institution: Annotated[
        str | None,
        typer.Option(
            help="The other institution (default: not-<institution>).", rich_help_panel=CHECKS
        ),
    ] = None,
    provider: Annotated[
        list[str] | None,
        typer.Option(
            help="A provider the requests name (repeat; used in turn). Default: "
            "'Conformance Kit Academy'.",
            rich_help_panel=CHECKS,
        ),
    ] = None,
    competence: Annotated[
        str, typer.Option(help="The competence id the requests name.", rich_help_panel=CHECKS)
    ] = "conformance-kit",
    kafka_bootstrap_servers: Annotated[
        str | None, typer.Option(help="e.g. kafka-1:9092,kafka-2:9092", rich_help_panel=KAFKA)
    ] = None,
    kafka_security_protocol: Annotated[
        str | None,
        typer.Option(help="PLAINTEXT, SASL_PLAINTEXT, SASL_SSL or SSL.", rich_help_panel=KAFKA),
    ] = None,
    kafka_sasl_mechanism: Annotated[
        str | None,
        typer.Option(help="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.", rich_help_panel=KAFKA),
    ] = None,
    kafka_sasl_username: Annotated[str | None, typer.Option(rich_help_panel=KAFKA)] = None,
    kafka_sasl_password: Annotated[
        str | None,
        typer.Option(
            help="Better given as MICROCRED_CONFORMANCE_KAFKA_SASL_PASSWORD.",
            rich_help_panel=KAFKA,
        ),
    ] = None,
    review_url: Annotated[
        str | None,
        typer.Option(
            help="Review's URL (default: the embedded platform's).", rich_help_panel=EVALUATOR
        ),
    ] = None,
    evaluator_token: Annotated[
        str | None,
        typer.Option(
            envvar="MICROCRED_CONFORMANCE_EVALUATOR_TOKEN",
            help="An evaluator's bearer token: the kit decides its queued requests with it.",
            rich_help_panel=EVALUATOR,
        ),
    ] = None,
    evaluator_email: Annotated[
        str | None,
        typer.Option(help="Or log in at intake as this evaluator.", rich_help_panel=EVALUATOR),
    ] = None,
    evaluator_password: Annotated[
        str | None,
        typer.Option(
            envvar="MICROCRED_CONFORMANCE_EVALUATOR_PASSWORD",
            help="The evaluator's password (asked for when missing).",
            rich_help_panel=EVALUATOR,
        ),
    ] = None,
    intake_url: Annotated[
        str | None,
        typer.Option(
            help="Intake's URL, to log in (default: the embedded platform's).",
            rich_help_panel=EVALUATOR,
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON instead of a table.")
    ] = False,
) -> None:
    """Check INSTITUTION's reviewer against the review contract; exit 0 only if all checks pass.

    The kit publishes generated review requests on the institution's request topic and judges
    the decisions on its decision topic: schema, keys, deadline, idempotency under redelivery,
    refusal of another institution's evidence. It connects as the platform does (WRITE on the
    request topic, READ on the decision topic). Exit codes: 0 all passed, 1 a check failed,
    2 the kit could not run.
    """
    from microcred_shared.conformance.review import (  # noqa: PLC0415
        ConformanceError,
        EvaluatorDriver,
        KitOptions,
        ReviewApiEvaluator,
        log_in_evaluator,
        render_report,
        run_review_conformance,
    )

    settings = _settings(
        {
            "kafka_bootstrap_servers": kafka_bootstrap_servers,
            "kafka_security_protocol": kafka_security_protocol,
            "kafka_sasl_mechanism": kafka_sasl_mechanism,
            "kafka_sasl_username": kafka_sasl_username,
            "kafka_sasl_password": kafka_sasl_password,
        }
    )
    try:
        options = KitOptions(
            institution_id=institution,
            deadline=deadline,
            grace=grace,
            requests=requests,
            redelivered=redelivered,
            foreign=foreign,
            foreign_institution=foreign_institution,
            providers=tuple(provider) if provider else KitOptions.providers,
            competence_id=competence,
        )
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    if evaluator_email and evaluator_password is None:
        evaluator_password = typer.prompt("Evaluator's password", hide_input=True)

    async def run() -> Any:
        driver: EvaluatorDriver | None = None
        token = evaluator_token
        if token is None and evaluator_email:
            token = await log_in_evaluator(
                intake_url or _embedded_url("intake"), evaluator_email, evaluator_password or ""
            )
        if token is not None:
            driver = ReviewApiEvaluator(review_url or _embedded_url("review"), token)
        elif review_url is not None:
            raise ConformanceError("--review-url needs --evaluator-token or --evaluator-email")
        if not json_output:
            typer.echo(
                f"checking {institution}'s reviewer: watching for {deadline:g}s...", err=True
            )
        return await run_review_conformance(settings, options, driver)

    try:
        report = asyncio.run(run())
    except ConformanceError as exc:
        typer.echo(f"the conformance kit could not run: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(report.model_dump_json(indent=2) if json_output else render_report(report))
    if not report.passed:
        raise typer.Exit(1)
