"""CDK app (Python) that deploys the EMREX client: ``npx cdk synth`` / ``npx cdk deploy`` from the repo root."""
