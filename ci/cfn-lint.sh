#!/usr/bin/env bash
# Lints the deployment template (infra/template.yaml) with cfn-lint, installed from PyPI into a
# virtualenv under target/ on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
CFN_LINT_VERSION="${CFN_LINT_VERSION:-1.58.0}"
VENV=target/cfn-lint-venv
if ! "$VENV/bin/cfn-lint" --version 2>/dev/null | grep -q "$CFN_LINT_VERSION"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "cfn-lint==$CFN_LINT_VERSION"
fi
"$VENV/bin/cfn-lint" infra/template.yaml
echo "cfn-lint $CFN_LINT_VERSION: infra/template.yaml is clean"
