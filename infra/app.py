"""CDK entry point (``cdk.json``: ``.venv/bin/python infra/app.py``). Makes no AWS calls: synth needs no credentials.

Configuration comes from context only (``infra/config.py``); cdk-nag AwsSolutions checks run when
``emrex:nag`` is true (the default) and a finding without an acknowledgement fails the synth.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python infra/app.py` puts infra/, not the repo root, on sys.path
    sys.path.insert(0, str(ROOT))

import aws_cdk as cdk  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402

from infra.config import ConfigError, EmrexConfig  # noqa: E402
from infra.layer import layer_asset  # noqa: E402
from infra.stack import EmrexStack  # noqa: E402
from layers.build import LayerBuildError  # noqa: E402


def build_app(app: cdk.App | None = None) -> tuple[cdk.App, EmrexStack]:
    app = app if app is not None else cdk.App()
    config = EmrexConfig.from_context(app.node.try_get_context)
    stack = EmrexStack(app, config.stack_name, config=config, layer=layer_asset(config))
    if config.nag:  # cdk-nag v3 is a policy-validation plugin: unacknowledged findings fail the synth
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return app, stack


def main() -> int:
    try:
        app, _ = build_app()
    except (ConfigError, LayerBuildError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
