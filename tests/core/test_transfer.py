"""Transfer domain helpers."""

from emrex_emc.core.protocol import new_transfer_id
from emrex_emc.core.transfer import support_code


def test_support_code_is_the_grouped_head_of_the_transfer_id() -> None:
    assert support_code("3f2a91c077be" + "0" * 20) == "3F2A-91C0-77BE"
    transfer_id = new_transfer_id()
    assert support_code(transfer_id).replace("-", "").lower() == transfer_id[:12]
