# Shared by the .ci scripts: paths, a fresh package version, and idempotent set-up steps.
set -euo pipefail
shopt -s inherit_errexit
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$PATH:$HOME/.dotnet/tools"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# A package version that grows with time (seconds since 2026-01-01), so that the NuGet caches, which never
# replace a version they hold, always see a new build.
fresh_version() { echo "0.1.$(( $(date +%s) - 1767225600 ))"; }

# Installs the Debian packages given, those not yet installed, when running as root (or with sudo).
apt_ensure() {
  local missing=()
  # "install ok installed": dpkg -s also succeeds for a package removed with its configuration files kept.
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  local SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then SUDO="sudo"; else
      echo "Missing Debian packages: ${missing[*]}. Install them as root: apt-get install -y ${missing[*]}" >&2; return 1
    fi
  fi
  echo "Installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The real data sets the tutorials and tests read: Fashion-MNIST (Debian dataset-fashion-mnist), scikit-learn's
# 8x8 digits (shipped inside Debian's python3-sklearn) and the quotes of Debian's fortunes.
data_ensure() {
  apt_ensure dataset-fashion-mnist python3-sklearn fortunes
}

# dotnet-interactive (the real Jupyter kernel) at the version the library packages come from.
dotnet_interactive_ensure() {
  if ! dotnet tool list -g | grep -q "microsoft.dotnet-interactive *1.0.712001"; then
    dotnet tool update -g Microsoft.dotnet-interactive --version 1.0.712001 --allow-downgrade >/dev/null
  fi
}

# The project URL for the packages: the clone's remote, when it has an https one (Source Link writes the repository URL
# and commit itself). None otherwise: a placeholder would point nowhere.
project_url_args() {
  local url
  url=$(git -C "$ROOT" config --get remote.origin.url 2>/dev/null || true)
  if [[ "$url" == https://* ]]; then echo "-p:PackageProjectUrl=${url%.git}"; fi
}

# Packs Reprogram and Reprogram.Interactive with a fresh version into a folder; prints the version.
pack_packages() {
  local out="$1" version="${2:-$(fresh_version)}"
  # shellcheck disable=SC2046
  dotnet pack "$ROOT/src/packages.slnf" -c Release -p:PackageVersion="$version" $(project_url_args) -o "$out" --nologo -v quiet >&2
  echo "$version"
}

# Packs the `reprogram` tool (Reprogram.Cli, about 160 MB: it carries libtorch for Linux x64) with a fresh version into
# a folder, after removing older tool packages from it; prints the version.
pack_tool() {
  local out="$1" version="${2:-$(fresh_version)}"
  mkdir -p "$out"
  rm -f "$out"/Reprogram.Cli.*.nupkg "$out"/Reprogram.Cli.*.snupkg
  # shellcheck disable=SC2046
  dotnet pack "$ROOT/src/Reprogram.Cli" -c Release -p:PackageVersion="$version" $(project_url_args) -o "$out" --nologo -v quiet >&2
  echo "$version"
}

# Installs (or replaces) the global `reprogram` tool from a folder feed at a version: dotnet tool install -g Reprogram.Cli.
install_tool() {
  local feed="$1" version="$2"
  dotnet tool uninstall -g Reprogram.Cli >/dev/null 2>&1 || true
  dotnet tool install -g Reprogram.Cli --version "$version" --add-source "$feed" --ignore-failed-sources >/dev/null
}
