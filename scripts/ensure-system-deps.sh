#!/usr/bin/env bash
# Installs the Debian packages envmon needs when they are missing (as root), or says what to install.
#   influxdb           influxd 1.6.x: the managed throwaway InfluxDB of the demo and the tests
#   chromium           headless browser for the web-page tests (driven by Playwright, executable_path)
#   fonts-noto-cjk     Chinese glyphs in PDFs and screenshots
#   libpango-1.0-0 libpangoft2-1.0-0   WeasyPrint's text layout
#   python3-venv       `python3 -m venv` on a stock Debian Python
#   poppler-utils      pdftotext / pdftoppm: the report tests read the PDF's text and rasterise its pages
#   postgresql         initdb/postgres for the tests' throwaway cluster (monitoring/postgres.py); the
#                      package's own cluster is not used
set -euo pipefail

missing=()
command -v influxd >/dev/null 2>&1 || missing+=(influxdb)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
fc-list 2>/dev/null | grep -qi "noto sans cjk" || missing+=(fonts-noto-cjk fontconfig)
ldconfig -p 2>/dev/null | grep -q libpangoft2-1.0 || missing+=(libpango-1.0-0 libpangoft2-1.0-0)
python3 -m venv --help >/dev/null 2>&1 || missing+=(python3-venv)
command -v pdftoppm >/dev/null 2>&1 && command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || missing+=(postgresql)

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "envmon needs these Debian packages: ${missing[*]}" >&2
    echo "install them as root:  apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
