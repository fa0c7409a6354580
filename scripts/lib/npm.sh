# Sourced by the scripts that run node packages (console.sh, browser.sh, typescript-client.sh).
#
#   npm_ci DIR
#
# installs DIR's pinned npm packages with `npm ci`, again only when DIR/package-lock.json
# differs from the one installed last time (a checkout whose node_modules predates a new
# dependency gets it; an unchanged one costs nothing).

npm_ci() {
    local dir=$1
    if ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.viva-installed-lock.json"; then
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
        cp "$dir/package-lock.json" "$dir/node_modules/.viva-installed-lock.json"
    fi
}
