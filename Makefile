# A thin wrapper around meson: `make check` is what CI runs, `make demo` what a newcomer runs.
BUILD      ?= build
BUILD_ASAN ?= build-asan
DEBIAN_DEPS = meson ninja-build pkg-config gcc libc6-dev libfuse3-dev fuse3 libyaml-dev \
              libgit2-dev libcmocka-dev valgrind vim git diffutils yq gawk

.PHONY: all deps build check test test-asan test-valgrind demo clean

all: build

# Installs the Debian packages that are missing (as root, with apt-get); a no-op when all are there.
deps:
	@missing=""; for p in $(DEBIAN_DEPS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" -ne 0 ]; then echo "make deps: run as root (apt-get install$$missing)" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(BUILD)/build.ninja:
	meson setup $(BUILD)

$(BUILD_ASAN)/build.ninja:
	meson setup $(BUILD_ASAN) -Db_sanitize=address,undefined -Db_lundef=false

build: deps $(BUILD)/build.ninja
	meson compile -C $(BUILD)

test: build
	meson test -C $(BUILD) --print-errorlogs

test-valgrind: build
	meson test -C $(BUILD) --print-errorlogs --suite unit \
	  --wrapper 'valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=99'

test-asan: deps $(BUILD_ASAN)/build.ninja
	meson compile -C $(BUILD_ASAN)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  meson test -C $(BUILD_ASAN) --print-errorlogs

# Everything CI checks: the plain build and its tests, the unit tests under valgrind, then the
# sanitizer build and every test again.
check: test test-valgrind test-asan

demo: build
	@echo "make demo mounts kratixfs; the FUSE daemon is not built yet. Meanwhile, render the"
	@echo "seed's request with the engine:"
	@d=$$(mktemp -d); mkdir -p $$d/input; \
	cp templates/postgresql/example-resource.yaml $$d/input/object.yaml; \
	./$(BUILD)/kratixfs render --promises templates --kratix $$d && \
	(cd $$d && find output metadata -type f | sort | while read f; do echo "==> $$f"; cat "$$f"; done); \
	rm -rf $$d

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)
