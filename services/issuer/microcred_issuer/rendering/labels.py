"""The words of the renderings, in the languages the platform's pages speak (en, pt, de).

Only the labels are translated: the contents (titles, outcomes, assessment method …) are the
institution's own words, signed as they are, and shown as they are.
"""

from __future__ import annotations

from typing import Final

DEFAULT_LANGUAGE: Final = "en"

_EN: Final[dict[str, str]] = {
    "certificate_competence": "Micro-credential certificate",
    "certificate_pathway": "Certificate of a stacked pathway",
    "kind_competence": "Micro-credential",
    "kind_pathway": "Pathway certificate",
    "awarded_to": "This certifies that",
    "has_achieved": "has achieved",
    "details": "Elements of the credential",
    "learner": "Learner",
    "provider": "Provider",
    "awarding_body": "Awarding body",
    "title": "Title",
    "issued_on": "Date of issuance",
    "learning_outcomes": "Learning outcomes",
    "workload": "Workload",
    "ects": "ECTS",
    "assessment_method": "Assessment method",
    "quality_assurance": "Quality assurance",
    "eqf_level": "EQF level",
    "nqf_level": "NQF level",
    "isced_f": "ISCED-F field",
    "form_of_participation": "Form of participation",
    "access_requirements": "Access requirements",
    "activity_period": "Period of learning",
    "completion": "Completion",
    "evidence": "Evidence that counted",
    "stacked": "Stacked micro-credentials",
    "description": "Description",
    "verification": "Verification of authenticity",
    "verify_at": "Scan or open to verify the signature, issuer and status:",
    "credential_id": "Credential id",
    "issuer_id": "Issuer (signed by)",
    "signed_note": (
        "This certificate renders an Open Badges 3.0 credential signed with the institution's "
        "key; the signed credential, not this document, is authoritative."
    ),
    "revoked": "Revoked",
    "revoked_note": "This credential was revoked and is no longer valid.",
    "suspended": "Suspended",
    "suspended_note": "This credential is suspended and is not valid while it stays suspended.",
    "since": "since",
    "none": "—",
    "page": "Page",
}

_PT: Final[dict[str, str]] = {
    "certificate_competence": "Certificado de microcredencial",
    "certificate_pathway": "Certificado de percurso de microcredenciais",
    "kind_competence": "Microcredencial",
    "kind_pathway": "Certificado de percurso",
    "awarded_to": "Certifica-se que",
    "has_achieved": "obteve",
    "details": "Elementos da credencial",
    "learner": "Formando",
    "provider": "Entidade formadora",
    "awarding_body": "Entidade certificadora",
    "title": "Título",
    "issued_on": "Data de emissão",
    "learning_outcomes": "Resultados de aprendizagem",
    "workload": "Carga de trabalho",
    "ects": "ECTS",
    "assessment_method": "Método de avaliação",
    "quality_assurance": "Garantia da qualidade",
    "eqf_level": "Nível QEQ",
    "nqf_level": "Nível QNQ",
    "isced_f": "Área ISCED-F",
    "form_of_participation": "Forma de participação",
    "access_requirements": "Requisitos de acesso",
    "activity_period": "Período de aprendizagem",
    "completion": "Conclusão",
    "evidence": "Evidências consideradas",
    "stacked": "Microcredenciais agregadas",
    "description": "Descrição",
    "verification": "Verificação de autenticidade",
    "verify_at": "Leia ou abra para verificar a assinatura, o emissor e o estado:",
    "credential_id": "Identificador da credencial",
    "issuer_id": "Emissor (assinado por)",
    "signed_note": (
        "Este certificado apresenta uma credencial Open Badges 3.0 assinada com a chave da "
        "instituição; a credencial assinada, e não este documento, é a que faz fé."
    ),
    "revoked": "Revogada",
    "revoked_note": "Esta credencial foi revogada e já não é válida.",
    "suspended": "Suspensa",
    "suspended_note": "Esta credencial está suspensa e não é válida enquanto o estiver.",
    "since": "desde",
    "none": "—",
    "page": "Página",
}

_DE: Final[dict[str, str]] = {
    "certificate_competence": "Zertifikat über eine Microcredential",
    "certificate_pathway": "Zertifikat über einen gestuften Lernpfad",
    "kind_competence": "Microcredential",
    "kind_pathway": "Lernpfad-Zertifikat",
    "awarded_to": "Hiermit wird bescheinigt, dass",
    "has_achieved": "Folgendes erreicht hat",
    "details": "Bestandteile des Nachweises",
    "learner": "Lernende Person",
    "provider": "Anbieter",
    "awarding_body": "Verleihende Stelle",
    "title": "Titel",
    "issued_on": "Ausstellungsdatum",
    "learning_outcomes": "Lernergebnisse",
    "workload": "Arbeitsaufwand",
    "ects": "ECTS",
    "assessment_method": "Prüfungsform",
    "quality_assurance": "Qualitätssicherung",
    "eqf_level": "EQR-Niveau",
    "nqf_level": "DQR/NQR-Niveau",
    "isced_f": "ISCED-F-Bereich",
    "form_of_participation": "Form der Teilnahme",
    "access_requirements": "Zugangsvoraussetzungen",
    "activity_period": "Lernzeitraum",
    "completion": "Abschluss",
    "evidence": "Angerechnete Nachweise",
    "stacked": "Gestufte Microcredentials",
    "description": "Beschreibung",
    "verification": "Echtheitsprüfung",
    "verify_at": "Scannen oder öffnen, um Signatur, Aussteller und Status zu prüfen:",
    "credential_id": "Kennung des Nachweises",
    "issuer_id": "Aussteller (signiert von)",
    "signed_note": (
        "Dieses Zertifikat gibt einen mit dem Schlüssel der Einrichtung signierten Open Badges "
        "3.0-Nachweis wieder; maßgeblich ist der signierte Nachweis, nicht dieses Dokument."
    ),
    "revoked": "Widerrufen",
    "revoked_note": "Dieser Nachweis wurde widerrufen und ist nicht mehr gültig.",
    "suspended": "Ausgesetzt",
    "suspended_note": "Dieser Nachweis ist ausgesetzt und gilt nicht, solange er es bleibt.",
    "since": "seit",
    "none": "—",
    "page": "Seite",
}

LABELS: Final[dict[str, dict[str, str]]] = {"en": _EN, "pt": _PT, "de": _DE}


def labels_for(language: str | None) -> tuple[str, dict[str, str]]:
    """The language used (``pt-BR`` falls back to ``pt``, unknown ones to English) and its words."""
    tag = (language or DEFAULT_LANGUAGE).replace("_", "-").split("-", 1)[0].lower()
    if tag not in LABELS:
        tag = DEFAULT_LANGUAGE
    return tag, LABELS[tag]
