# Macula developer targets. `make test` is what CI runs.
GO        ?= go
FUZZTIME  ?= 60s
PKGS      := ./...

.PHONY: all test test-scale vet lint fmt-check fuzz generate bench demo demo-mdns

all: test

## test: vet, then every test with the race detector, then test-scale (the CI gate)
test: vet
	$(GO) test -race -count=1 -timeout 15m $(PKGS)
	$(MAKE) --no-print-directory test-scale

## test-scale: the DHT's 200-node QUIC mesh tests, without -race (under
## -race they run at 50 nodes: 200 would need about 13 GB)
test-scale:
	$(GO) test -count=1 -timeout 15m -run 'TestDHTOverQUIC|TestDHTChurnOverQUIC' ./routing

vet:
	$(GO) vet $(PKGS)

## lint: gofmt and staticcheck (install: go install honnef.co/go/tools/cmd/staticcheck@v0.8.2)
lint: fmt-check
	staticcheck $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## fuzz: run every fuzz target for FUZZTIME each (default 60s)
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test $$pkg -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s -parallel 1; \
	  done; \
	done

## generate: regenerate protocol/macula.pb.go (needs protoc and protoc-gen-go)
generate:
	$(GO) generate ./protocol/

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

demo:
	$(GO) run ./examples/quickstart

## demo-mdns: the mDNS demo on a LAN interface (IFACE=eth0)
demo-mdns:
	$(GO) run ./examples/mdns -iface $(IFACE)
