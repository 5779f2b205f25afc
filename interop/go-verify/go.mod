module custos.invalid/interop/go-verify

go 1.19

require golang.org/x/mod v0.0.0

// Offline build against Debian's golang-golang-x-mod-dev. Elsewhere, point this at
// a checkout of golang.org/x/mod (run.sh honours GO_XMOD_DIR for that).
replace golang.org/x/mod => /usr/share/gocode/src/golang.org/x/mod
