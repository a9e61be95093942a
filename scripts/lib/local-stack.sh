# shellcheck shell=bash
# Environment of the `local` stack: a file backend under the ignored work dir
# and the passphrase secrets provider with a documented, local-only passphrase.
# Source it after .work/toolchain.env.
_cv_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
mkdir -p "$_cv_root/.work/pulumi-state"
export PULUMI_BACKEND_URL="file://$_cv_root/.work/pulumi-state"
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE:-local-only-passphrase}"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DIY_BACKEND_NO_LEGACY_WARNING=true
unset _cv_root
