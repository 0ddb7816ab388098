"""What the chooser offers: scheduled entries take effect on time; an institution is listed once, 2.0 preferred."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from emrex_emc.core.discovery import (
    MAX_COVERED,
    fold,
    in_effect,
    offered_emps,
    one_listing_per_institution,
    proves_same_provider,
)
from emrex_emc.core.elmo.model import Issuer
from emrex_emc.core.elmo.primitives import Identifier
from emrex_emc.core.protocol import ProtocolVersion
from emrex_emc.core.provenance import Coverage, assess_provenance
from emrex_emc.core.registry import CoveredInstitution, Emp, Emrex2Endpoints, emp_id
from emrex_emc.local.elmo_factory import SigningIdentity

NOW = datetime(2027, 1, 15, 12, tzinfo=UTC)


def emrex1(
    name: str, country: str = "NL", *institutions: str, single: bool = False, cert: bytes = b"c1", host: str = ""
) -> Emp:
    url = f"https://{host or slug(name) + '.ewp.example'}/emrex"
    return Emp(emp_id(country, url), name, url, country, institutions, (cert,), single_fetch=single)


def emrex2(
    name: str,
    country: str = "NL",
    *institutions: str,
    when: datetime | None = None,
    host: str = "",
    key: bytes = b"spki",
) -> Emp:
    """A 2.0 EMP on its own host (never its EMREX 1 namesake's unless ``host`` says so)."""
    origin = f"https://{host or slug(name) + '.emreg.example'}"
    endpoints = Emrex2Endpoints(f"{origin}/authorize", f"{origin}/token", f"{origin}/results")
    return Emp(
        id=emp_id(country, origin),
        name=name,
        url=endpoints.authorization_url,
        country=country,
        institutions=institutions,
        source="emreg2",
        protocol=ProtocolVersion.EMREX_2,
        emrex2=endpoints,
        public_key=key,
        active_from=when,
    )


def slug(name: str) -> str:
    return fold(name).replace(" ", "-")


def spki(identity: SigningIdentity) -> bytes:
    return identity.certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def names(emps: tuple[Emp, ...]) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(emp.name, emp.protocol.value, emp.institutions) for emp in emps]


def test_a_scheduled_entry_takes_effect_only_at_its_moment() -> None:
    current = emrex2("DUO", "NL", "TU Delft")
    scheduled = replace(current, name="DUO (new endpoints)", active_from=NOW + timedelta(hours=1))
    older = replace(current, name="DUO (past update)", active_from=NOW - timedelta(days=1))
    new_emp = emrex2("Not yet", "BE", when=NOW + timedelta(minutes=1))

    assert [emp.name for emp in offered_emps([current, scheduled, new_emp], NOW)] == ["DUO"]
    assert [emp.name for emp in offered_emps([current, older, scheduled], NOW)] == ["DUO (past update)"]
    later = NOW + timedelta(hours=2)
    assert [emp.name for emp in offered_emps([current, scheduled, older, new_emp], later)] == [
        "DUO (new endpoints)",
        "Not yet",
    ]
    assert in_effect([scheduled], NOW) == ()


def test_the_same_provider_in_both_registries_is_listed_once_as_2_0_with_its_certificate() -> None:
    one = emrex1("Dienst Uitvoering Onderwijs", "NL", "TU Delft", cert=b"duo-cert")
    two = emrex2("Dienst  Uitvoering Onderwíjs", "NL", "TU Delft")
    (offered,) = offered_emps([one, two], NOW)
    assert offered.protocol is ProtocolVersion.EMREX_2 and offered.id == two.id
    assert offered.certificates == (b"duo-cert",)  # checks an enveloped XML signature inside the 2.0 results


def test_a_per_institution_emp_whose_institution_a_2_0_emp_lists_is_dropped() -> None:
    delft_v1 = emrex1("NCP Delft", "NL", "tu delft", "Other Uni", single=True, cert=b"delft")
    duo = emrex2("DUO", "NL", "TU Delft", "Universiteit Leiden")
    assert names(offered_emps([delft_v1, duo], NOW)) == [("DUO", "emrex-2", ("TU Delft", "Universiteit Leiden"))]
    assert offered_emps([delft_v1, duo], NOW)[0].certificates == (b"delft",)


def test_a_national_emp_loses_only_the_institutions_a_2_0_emp_lists() -> None:
    national = emrex1("Norway registry", "NO", "UiO", "NTNU", "UiB")
    uio = emrex2("UiO EMREX 2", "NO", "UiO")
    offered = offered_emps([national, uio], NOW)
    assert names(offered) == [("Norway registry", "emrex-1", ("NTNU", "UiB")), ("UiO EMREX 2", "emrex-2", ("UiO",))]
    assert offered[1].certificates == ()  # not the same provider: its certificates stay with it


def test_an_emp_whose_institutions_all_moved_to_2_0_is_dropped() -> None:
    national = emrex1("Norway registry", "NO", "UiO", "NTNU", cert=b"no")
    uio, ntnu = emrex2("UiO", "NO"), emrex2("NTNU 2", "NO", "NTNU")
    offered = offered_emps([national, uio, ntnu], NOW)
    assert names(offered) == [("UiO", "emrex-2", ()), ("NTNU 2", "emrex-2", ("NTNU",))]
    assert [emp.certificates for emp in offered] == [(), ()]  # two providers took over: no single twin
    only_one = emrex2("Norway 2", "NO", "UiO", "NTNU")
    assert offered_emps([national, only_one], NOW)[0].certificates == (b"no",)


def test_other_countries_and_plain_emrex_1_lists_are_untouched() -> None:
    belgian = emrex1("UiO", "BE", "UiO")
    dutch = emrex1("Leiden", "NL", "Universiteit Leiden")
    emps = [belgian, dutch, emrex2("UiO", "NO", "UiO")]
    assert offered_emps(emps, NOW)[:2] == (belgian, dutch)
    assert offered_emps([belgian, dutch], NOW) == (belgian, dutch)


def test_every_institution_is_listed_once() -> None:
    emps = [
        emrex1("Norway registry", "NO", "UiO", "NTNU", "UiB"),
        emrex1("Bergen", "NO", "UiB", single=True),
        emrex2("NTNU two", "NO", "NTNU", "UiB"),
        emrex2("Oslo two", "NO", "UiO"),
    ]
    listed = [fold(name) for emp in offered_emps(emps, NOW) for name in {emp.label, *emp.institutions}]
    assert sorted(set(listed)) == sorted(["ntnu two", "ntnu", "uib", "oslo two", "uio"])
    assert all(listed.count(name) == 1 for name in ("ntnu", "uib", "uio"))


OSLO = CoveredInstitution("uio.no", (("erasmus", "N  OSLO01"),), (("en", "University of Oslo"), ("no", "UiO")))
BERGEN = CoveredInstitution("uib.no", (("erasmus", "N  BERGEN01"),), (("en", "University of Bergen"),))
OSLO_ISSUER = Issuer(identifiers=(Identifier("n oslo01", "erasmus"),), country="NO")


def test_a_2_0_emp_takes_over_the_institutions_its_twin_covers() -> None:
    twin = replace(emrex1("Sikt", "NO", host="sikt.example"), covered=(OSLO, BERGEN))
    known = CoveredInstitution("UIO.NO", (), (("en", "UiO"),))  # the same hei-id already held: kept once
    sikt2 = replace(emrex2("Sikt", "NO", host="emrex.sikt.example"), covered=(known,))  # proof: a subdomain
    (offered,) = offered_emps([twin, sikt2], NOW)
    assert offered.id == sikt2.id and offered.covered == (known, BERGEN)
    assert offered.certificates == twin.certificates
    assert "University of Bergen" in offered.institution_names  # the chooser finds it by "Bergen"
    many = replace(twin, covered=tuple(CoveredInstitution(f"hei{n}.no") for n in range(MAX_COVERED + 5)))
    assert len(offered_emps([many, sikt2], NOW)[0].covered) == MAX_COVERED


def test_a_2_0_emp_with_its_twins_institutions_vouches_for_them_and_others_do_not(
    emp_identity: SigningIdentity,
) -> None:
    twin = replace(emrex1("Sikt", "NO", cert=emp_identity.cert_der), covered=(OSLO,))
    sikt2, ladok = emrex2("Sikt", "NO", key=spki(emp_identity)), emrex1("Ladok", "SE")  # proof: the same key
    registry = in_effect([twin, ladok, sikt2], NOW)
    offered = one_listing_per_institution(registry)
    assert [emp.id for emp in offered] == [ladok.id, sikt2.id]

    def verdict(emp: Emp) -> str:
        return assess_provenance([OSLO_ISSUER], Coverage.of(emp, registry)).verdict

    assert verdict(offered[1]) == "covered"  # not merely same_country: the 2.0 EMP covers uio.no
    assert verdict(ladok) == "not_covered"  # the twin left the list, not the registry
    assert verdict(emrex1("Another NO", "NO")) == "not_covered"


def test_a_2_0_emp_takes_over_a_covered_institution_it_lists_by_name() -> None:
    national = replace(emrex1("Norway registry", "NO", "UiO", "UiB", host="emrex.example.no"), covered=(OSLO, BERGEN))
    oslo2 = emrex2("Oslo two", "NO", "University of Oslo", host="oslo.emrex.example.no")  # proof: a subdomain
    registry = in_effect([national, oslo2], NOW)
    offered = one_listing_per_institution(registry)
    assert [(emp.name, emp.covered) for emp in offered] == [("Norway registry", (OSLO, BERGEN)), ("Oslo two", (OSLO,))]
    assert offered[1].certificates == ()  # not the national EMP's twin: its certificates stay with it
    for emp in offered:  # both may vouch for Oslo
        assert assess_provenance([OSLO_ISSUER], Coverage.of(emp, registry)).verdict == "covered"


def test_an_institution_of_a_dropped_emp_that_no_2_0_emp_lists_is_still_known_elsewhere() -> None:
    national = replace(emrex1("Norway registry", "NO", "UiO", "NTNU", host="emrex.example.no"), covered=(OSLO, BERGEN))
    oslo2 = emrex2("Oslo two", "NO", "UiO", host="emrex.example.no")  # proof: the same host
    ntnu2, ladok = emrex2("NTNU two", "NO", "NTNU"), emrex1("Ladok", "SE")
    registry = in_effect([national, oslo2, ntnu2, ladok], NOW)
    offered = one_listing_per_institution(registry)
    assert [emp.name for emp in offered] == ["Oslo two", "NTNU two", "Ladok"]  # several 2.0 EMPs took over
    assert [emp.covered for emp in offered] == [(OSLO,), (), ()]  # "UiO" names Oslo; Bergen nobody lists
    bergen = Issuer(identifiers=(Identifier("uib.no", "schac"),), country="NO")
    assert assess_provenance([bergen], Coverage.of(offered[1], registry)).verdict == "not_covered"
    assert assess_provenance([bergen], Coverage.of(ladok, registry)).verdict == "not_covered"


def verdict_for_oslo(emp: Emp, registry: tuple[Emp, ...]) -> str:
    return assess_provenance([OSLO_ISSUER], Coverage.of(emp, registry)).verdict


def test_proof_of_the_same_provider_is_a_shared_key_or_results_host_never_a_name(
    emp_identity: SigningIdentity, other_identity: SigningIdentity
) -> None:
    ewp = emrex1("Sikt", "NO", host="emrex.sikt.no", cert=emp_identity.cert_der)

    def proves(host: str, key: bytes = b"spki") -> bool:
        return proves_same_provider(emrex2("Sikt", "NO", host=host, key=key), ewp)

    assert proves("emrex.sikt.no") and proves("sikt.no") and proves("v2.emrex.sikt.no") and proves("EMREX.sikt.no.")
    assert proves("evil.example", spki(emp_identity))  # the catalogue certificate's key
    assert not proves("evil.example") and not proves("evil.example", spki(other_identity))
    assert not proves("api.sikt.no")  # a sibling: both only under sikt.no
    assert not proves("xemrex.sikt.no") and not proves("emrex.sikt.no.evil.example")  # not label by label
    assert not proves("no")  # a one-label parent
    oxford = emrex1("Oxford", "GB", host="emrex.ox.ac.uk")
    assert not proves_same_provider(emrex2("Oxford", "GB", host="emrex.evil.ac.uk"), oxford)  # share only ac.uk
    by_ip = emrex1("Local", "NO", host="10.0.0.1")
    assert proves_same_provider(emrex2("Local", "NO", host="10.0.0.1"), by_ip)
    assert not proves_same_provider(emrex2("Local", "NO", host="0.0.1"), by_ip)
    unreadable = replace(ewp, certificates=(b"not a certificate", emp_identity.cert_der))
    assert proves_same_provider(emrex2("Sikt", "NO", host="evil.example", key=spki(emp_identity)), unreadable)
    assert not proves_same_provider(emrex1("Sikt", "NO", host="emrex.sikt.no"), ewp)  # EMREX 1 has no endpoints


def test_an_entry_naming_the_providers_authorization_and_token_urls_proves_nothing() -> None:
    ewp = emrex1("Sikt", "NO", host="sikt.no")
    genuine = emrex2("Sikt", "NO", host="sikt.no").emrex2
    assert genuine is not None
    borrowed = replace(genuine, resource_url="https://evil.example/results")  # results of its own
    evil = replace(emrex2("Sikt", "NO", host="sikt.no"), emrex2=borrowed)
    assert not proves_same_provider(evil, ewp)


def test_a_2_0_entry_copying_an_emrex_1_emps_name_takes_over_none_of_its_institutions() -> None:
    sikt = replace(emrex1("Sikt", "NO", host="sikt.no", cert=b"SIKT-CERT"), covered=(OSLO, BERGEN))
    evil = emrex2("  SÍKT ", "NO", host="evil.example")
    registry = in_effect([sikt, evil], NOW)
    (offered,) = one_listing_per_institution(registry)
    assert offered.id == evil.id and offered.covered == ()  # still listed once, as 2.0
    assert "University of Oslo" not in offered.institution_names  # nor found by Sikt's institutions
    assert offered.certificates == (b"SIKT-CERT",)  # by name, as before: they check only an XML signature inside
    assert verdict_for_oslo(offered, registry) == "not_covered"  # Oslo is Sikt's, not the copy's
    alone = in_effect([replace(sikt, covered=()), evil], NOW)  # the registry knows no ids of Oslo
    assert verdict_for_oslo(one_listing_per_institution(alone)[0], alone) == "same_country"


def test_of_several_2_0_entries_under_one_name_only_the_one_with_proof_takes_over(
    emp_identity: SigningIdentity,
) -> None:
    sikt = replace(emrex1("Sikt", "NO", host="sikt.no", cert=emp_identity.cert_der), covered=(OSLO, BERGEN))
    evil = emrex2("  SÍKT ", "NO", host="evil.example")
    by_host = emrex2("Sikt", "NO", host="emrex.sikt.no")
    by_key = emrex2("sikt", "NO", host="sikt-emrex.example", key=spki(emp_identity))
    for genuine in (by_host, by_key):
        for order in ([sikt, evil, genuine], [sikt, genuine, evil]):
            registry = in_effect(order, NOW)
            offered = {emp.id: emp for emp in one_listing_per_institution(registry)}
            assert set(offered) == {evil.id, genuine.id}
            assert (offered[evil.id].certificates, offered[evil.id].covered) == ((), ())
            assert (offered[genuine.id].certificates, offered[genuine.id].covered) == (
                sikt.certificates,
                (OSLO, BERGEN),
            )
            assert verdict_for_oslo(offered[genuine.id], registry) == "covered"
            assert verdict_for_oslo(offered[evil.id], registry) == "not_covered"
    for rivals in ([evil, emrex2("SIKT", "NO")], [by_host, by_key]):  # none with proof, or two: nothing to either
        offered_now = one_listing_per_institution(in_effect([sikt, *rivals], NOW))
        assert [(emp.certificates, emp.covered) for emp in offered_now] == [((), ()), ((), ())]


def test_a_2_0_entry_listing_a_covered_institution_takes_it_over_only_with_proof() -> None:
    national = replace(emrex1("Norway registry", "NO", "UiO", "UiB", host="emrex.example.no"), covered=(OSLO, BERGEN))
    for host in ("totally-different.example", "uio.example.no"):  # another host; a sibling under example.no
        stranger = emrex2("Totally Different", "NO", "University of Oslo", host=host)
        registry = in_effect([national, stranger], NOW)
        offered = one_listing_per_institution(registry)
        assert [(emp.name, emp.covered) for emp in offered] == [
            ("Norway registry", (OSLO, BERGEN)),
            ("Totally Different", ()),
        ]
        assert verdict_for_oslo(offered[1], registry) == "not_covered"
    per_institution = replace(emrex1("UiO", "NO", "University of Oslo", single=True), covered=(OSLO,))
    stranger = emrex2("Totally Different", "NO", "University of Oslo")
    (offered_one,) = one_listing_per_institution(in_effect([per_institution, stranger], NOW))
    assert offered_one.id == stranger.id and offered_one.covered == ()  # replaces it in the list, covers nothing


def test_fold_ignores_case_and_accents_in_every_script() -> None:
    assert fold("België") == "belgie" and fold("ΕΛΛΆΔΑ") == fold("Ελλάδα") == "ελλαδα"
    assert fold("Česko") == "cesko" and fold("  Université  de   Liège ") == "universite de liege"
