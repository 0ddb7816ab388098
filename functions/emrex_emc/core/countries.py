"""Country codes as ELMO documents give them, normalized to ISO 3166-1 alpha-2.

ELMO up to 2.0 uses the Europass alpha-2 list; ELMO 2.1 adds ``type="URI"``: the EU authority table's URI
(``http://publications.europa.eu/resource/authority/country/GRC``, alpha-3). The EU's own two-letter
codes that are not ISO (``EL`` Greece, ``UK`` United Kingdom) are mapped to ``GR`` and ``GB``. Anything
else is not a country we know: :func:`country_code` gives None and the reader records a notice.
Pure and light (no lxml): the registry and provenance use it too.
"""

from __future__ import annotations

import re

_ISO_PAIRS = """
ADAND AEARE AFAFG AGATG AIAIA ALALB AMARM AOAGO AQATA ARARG ASASM ATAUT AUAUS AWABW AXALA AZAZE BABIH BBBRB
BDBGD BEBEL BFBFA BGBGR BHBHR BIBDI BJBEN BLBLM BMBMU BNBRN BOBOL BQBES BRBRA BSBHS BTBTN BVBVT BWBWA BYBLR
BZBLZ CACAN CCCCK CDCOD CFCAF CGCOG CHCHE CICIV CKCOK CLCHL CMCMR CNCHN COCOL CRCRI CUCUB CVCPV CWCUW CXCXR
CYCYP CZCZE DEDEU DJDJI DKDNK DMDMA DODOM DZDZA ECECU EEEST EGEGY EHESH ERERI ESESP ETETH FIFIN FJFJI FKFLK
FMFSM FOFRO FRFRA GAGAB GBGBR GDGRD GEGEO GFGUF GGGGY GHGHA GIGIB GLGRL GMGMB GNGIN GPGLP GQGNQ GRGRC GSSGS
GTGTM GUGUM GWGNB GYGUY HKHKG HMHMD HNHND HRHRV HTHTI HUHUN IDIDN IEIRL ILISR IMIMN ININD IOIOT IQIRQ IRIRN
ISISL ITITA JEJEY JMJAM JOJOR JPJPN KEKEN KGKGZ KHKHM KIKIR KMCOM KNKNA KPPRK KRKOR KWKWT KYCYM KZKAZ LALAO
LBLBN LCLCA LILIE LKLKA LRLBR LSLSO LTLTU LULUX LVLVA LYLBY MAMAR MCMCO MDMDA MEMNE MFMAF MGMDG MHMHL MKMKD
MLMLI MMMMR MNMNG MOMAC MPMNP MQMTQ MRMRT MSMSR MTMLT MUMUS MVMDV MWMWI MXMEX MYMYS MZMOZ NANAM NCNCL NENER
NFNFK NGNGA NINIC NLNLD NONOR NPNPL NRNRU NUNIU NZNZL OMOMN PAPAN PEPER PFPYF PGPNG PHPHL PKPAK PLPOL PMSPM
PNPCN PRPRI PSPSE PTPRT PWPLW PYPRY QAQAT REREU ROROU RSSRB RURUS RWRWA SASAU SBSLB SCSYC SDSDN SESWE SGSGP
SHSHN SISVN SJSJM SKSVK SLSLE SMSMR SNSEN SOSOM SRSUR SSSSD STSTP SVSLV SXSXM SYSYR SZSWZ TCTCA TDTCD TFATF
TGTGO THTHA TJTJK TKTKL TLTLS TMTKM TNTUN TOTON TRTUR TTTTO TVTUV TWTWN TZTZA UAUKR UGUGA UMUMI USUSA UYURY
UZUZB VAVAT VCVCT VEVEN VGVGB VIVIR VNVNM VUVUT WFWLF WSWSM YEYEM YTMYT ZAZAF ZMZMB ZWZWE XKXKX
"""
"""ISO 3166-1 (Debian iso-codes 4.15) as alpha-2 + alpha-3 pairs, plus Kosovo (``XK``/``XKX``, used by the EU)."""

ALPHA2: frozenset[str] = frozenset(pair[:2] for pair in _ISO_PAIRS.split())
ALPHA3_TO_ALPHA2: dict[str, str] = {pair[2:]: pair[:2] for pair in _ISO_PAIRS.split()}
EU_ALPHA2 = {"EL": "GR", "UK": "GB"}
"""The EU's own codes (Interinstitutional Style Guide) that ISO assigns differently."""
_CODE = re.compile(r"[A-Za-z]{2,3}")


def country_code(raw: str | None) -> str | None:
    """ISO 3166-1 alpha-2 (upper case) of an ELMO country value, or None when it names no known country.

    Accepted: an alpha-2 code (any case; ``EL``/``UK`` too), an alpha-3 code, and a URI whose last path
    segment is one of those (the EU authority table's ``…/country/GRC``). The ``type`` attribute (ISO or
    URI) is not needed: the value's shape tells.
    """
    if raw is None:
        return None
    text = raw.strip()
    if "/" in text:
        text = text.split("?", 1)[0].split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    if not _CODE.fullmatch(text):
        return None
    code = text.upper()
    if len(code) == 3:
        return ALPHA3_TO_ALPHA2.get(code)
    code = EU_ALPHA2.get(code, code)
    return code if code in ALPHA2 else None
