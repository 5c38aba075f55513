# A thin wrapper around meson: `make check` is what CI runs, `make demo` what a newcomer runs.
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_TSAN ?= build-tsan
PREFIX     ?= /usr/local
DESTDIR    ?=
# systemd: systemd-analyze verifies the unit in `make check`; tree prints the demo's mount;
# bash-builtins: bench/git's builtin mkdir; openssh-*: the SSH push test's sshd on 127.0.0.1;
# nettle-dev: the hashes; libpcre2-dev: CRD patterns; libssl-dev: bench/hash's comparison;
# buildah: make image; bubblewrap: the sandbox of image and folder containers (src/exec/run*.c) and
# tests/ship/image.sh; libarchive-dev: image layers; skopeo: images out of container storage;
# podman and busybox-static: the test images (tests/exec/mkimage.sh).
DEBIAN_DEPS = meson ninja-build pkg-config gcc libc6-dev libfuse3-dev fuse3 libyaml-dev \
              libgit2-dev zlib1g-dev nettle-dev libpcre2-dev libssl-dev libcmocka-dev valgrind vim \
              git diffutils yq gawk systemd tree python3 bash-builtins openssh-client openssh-server \
              libarchive-dev skopeo buildah podman busybox-static bubblewrap

# The demo: a mount at ./kratix, its state folder, Git state store and log under build/demo/.
DEMO_MNT   = $(CURDIR)/kratix
DEMO_DIR   = $(abspath $(BUILD))/demo
DEMO_REQ   = $(DEMO_MNT)/requests/my-db

.PHONY: all deps build check test test-asan test-tsan test-valgrind soak demo undemo install clean image

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
	meson setup $(BUILD) --prefix=$(PREFIX)

$(BUILD_ASAN)/build.ninja:
	meson setup $(BUILD_ASAN) -Db_sanitize=address,undefined -Db_lundef=false

$(BUILD_TSAN)/build.ninja:
	meson setup $(BUILD_TSAN) -Db_sanitize=thread -Db_lundef=false

build: deps $(BUILD)/build.ninja
	meson compile -C $(BUILD)

test: build
	meson test -C $(BUILD) --print-errorlogs

# Under valgrind the YAML fuzz runs fewer rounds: its coverage comes from the other two builds.
test-valgrind: build
	KFS_FUZZ_ROUNDS=60 meson test -C $(BUILD) --print-errorlogs --suite unit --timeout-multiplier 4 \
	  --wrapper 'valgrind --quiet --suppressions=$(CURDIR)/tests/valgrind.supp --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=99'

test-asan: deps $(BUILD_ASAN)/build.ninja
	meson compile -C $(BUILD_ASAN)
	ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 KFS_WAIT_SCALE=2 \
	  meson test -C $(BUILD_ASAN) --print-errorlogs --no-suite ship

# ThreadSanitizer over the unit and mount suites: the threaded ones (the store's writers, reload,
# rmdir and Git thread; the mount's FUSE threads). halt_on_error makes a race or a lock-order
# inversion fail its test; tests/tsan.supp holds the third-party reports, each with why.
# GCC 12's TSan maps its shadow memory at fixed addresses that a kernel with more mmap
# randomisation (vm.mmap_rnd_bits above 28) may already have used ("unexpected memory
# mapping"): setarch -R runs the tests without address randomisation where it exists. The
# mount tests' waits for the Git thread (pushes to two daemons' remote) are 4 times as long.
TSAN_SETARCH = $(shell setarch -R true >/dev/null 2>&1 && echo setarch -R)
test-tsan: deps $(BUILD_TSAN)/build.ninja
	meson compile -C $(BUILD_TSAN)
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$(CURDIR)/tests/tsan.supp \
	  KFS_WAIT_SCALE=4 \
	  $(TSAN_SETARCH) meson test -C $(BUILD_TSAN) --print-errorlogs --suite unit --suite mount \
	  --timeout-multiplier 4

# Everything CI checks: the plain build and its tests, the unit tests under valgrind, then the
# ASan+UBSan build and every test again (but the 'ship' suite: make demo, make install, mount(8),
# systemd, which test the packaging rather than the code), then the ThreadSanitizer build and
# the unit and mount tests again.
check: test test-valgrind test-asan test-tsan

# The soak (not part of check; minutes long): 16 writers and 16 readers on 1,000 requests for
# 60 s on a mount with -o git, with template edits and 20 SIGKILL/restart rounds, each followed by
# a check of every request (nothing lost, outputs = a fresh kratixfs render, Git, git fsck).
# Knobs: SOAK_ARGS='--requests 100 --duration 10 --restarts 3' (tests/soak/soak.py --help).
SOAK_ARGS ?=
soak: build
	python3 tests/soak/soak.py --build=$(abspath $(BUILD)) $(SOAK_ARGS)

# Installs what is missing, builds, mounts kratixfs at ./kratix, writes the seed's my-db request
# and shows what came of it. A second run unmounts the first mount and starts afresh.
demo: deps
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD) --prefix=$(PREFIX) >$(BUILD).setup.log 2>&1 || \
	  { cat $(BUILD).setup.log; exit 1; }
	@rm -f $(BUILD).setup.log
	@meson compile -C $(BUILD) >$(BUILD)/compile.log 2>&1 || { cat $(BUILD)/compile.log; exit 1; }
	@$(MAKE) -s --no-print-directory undemo >/dev/null
	@rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR) $(DEMO_MNT)
	@setsid $(abspath $(BUILD))/kratixfs -f -o promises=$(CURDIR)/templates,state=$(DEMO_DIR)/state \
	  -o git=$(DEMO_DIR)/statestore.git $(DEMO_MNT) </dev/null >$(DEMO_DIR)/kratixfs.log 2>&1 & \
	  echo $$! >$(DEMO_DIR)/kratixfs.pid; \
	  for i in $$(seq 100); do mountpoint -q $(DEMO_MNT) && break; sleep 0.05; done; \
	  mountpoint -q $(DEMO_MNT) || { echo "make demo: kratixfs did not mount:"; \
	    cat $(DEMO_DIR)/kratixfs.log; exit 1; } >&2
	@mkdir $(DEMO_REQ) && cp templates/postgresql/example-resource.yaml $(DEMO_REQ)/object.yaml
	@echo "kratixfs is mounted at ./kratix; the seed's request is in kratix/requests/my-db."
	@echo; echo '$$ tree kratix'; tree --noreport kratix
	@echo; echo '$$ cat kratix/requests/my-db/output/statefulset.yaml'; \
	  cat $(DEMO_REQ)/output/statefulset.yaml
	@echo; echo '$$ cat kratix/requests/my-db/status.yaml'; cat $(DEMO_REQ)/status.yaml
	@echo; echo '$$ git -C build/demo/statestore.git log --name-only'; \
	  git -C $(DEMO_DIR)/statestore.git log --name-only --format='commit %h  %an  %s' | cat
	@echo; echo "Try more (the log is in $(BUILD)/demo/kratixfs.log):"; \
	  echo "  sed -i 's/size: medium/size: large/' kratix/requests/my-db/object.yaml"; \
	  echo "  grep replicas kratix/requests/my-db/output/statefulset.yaml     # replicas: 3"; \
	  echo "  sed -i 's/size: large/size: huge/' kratix/requests/my-db/object.yaml   # refused"; \
	  echo "  grep message kratix/requests/my-db/status.yaml                  # says why"; \
	  echo "  mkdir kratix/requests/db2"; \
	  echo "  sed 's/my-db/db2/; s/medium/small/' templates/postgresql/example-resource.yaml >kratix/requests/db2/object.yaml"; \
	  echo "  git clone -q $(BUILD)/demo/statestore.git /tmp/statestore && find /tmp/statestore -name '*.yaml'"; \
	  echo "Stop with: make undemo"

# Unmounts the demo (its daemon exits cleanly) and keeps build/demo/ to look at.
undemo:
	@if grep -qs " $(DEMO_MNT) " /proc/mounts; then \
	  fusermount3 -u $(DEMO_MNT) 2>/dev/null || fusermount3 -uz $(DEMO_MNT); fi; \
	pid=$$(cat $(DEMO_DIR)/kratixfs.pid 2>/dev/null); \
	if [ -n "$$pid" ]; then \
	  for i in $$(seq 100); do grep -qs '^State:[^Z]*$$' /proc/$$pid/status || break; \
	    sleep 0.05; done; \
	  rm -f $(DEMO_DIR)/kratixfs.pid; fi; \
	rmdir $(DEMO_MNT) 2>/dev/null; \
	echo "kratixfs unmounted from ./kratix; its state, Git store and log stay in $(BUILD)/demo/"

# The pipeline image of a template promise, for Kratix on Kubernetes (docs/kratix.md, "The same
# promise in a cluster"): FROM scratch, the kratixfs binary with every shared library it links and
# the dynamic loader (as ldd lists them), the promise folder as the image's only bundled promise
# (/usr/share/kratixfs/promises/<folder name>/), and an entrypoint that renders the /kratix volume
# of a Kratix pipeline pod; user 65532, for runAsNonRoot. buildah builds it from build/image/
# without running anything in it, so offline. `kratixfs promise --image $(IMAGE) $(PROMISE)`
# prints the promise.yaml that runs it.
PROMISE ?= templates/postgresql
IMAGE   ?= localhost/kratixfs-$(notdir $(abspath $(PROMISE))):latest
IMAGE_DIR = $(abspath $(BUILD))/image
IMAGE_ENTRYPOINT = ["/usr/bin/kratixfs", "render", "--kratix", "/kratix", \
                    "--promises", "/usr/share/kratixfs/promises"]
image: deps $(BUILD)/build.ninja
	meson compile -C $(BUILD) kratixfs
	@$(abspath $(BUILD))/kratixfs promise --image $(IMAGE) $(PROMISE) >/dev/null || \
	  { echo "make image: PROMISE=$(PROMISE) is not a promise folder that loads" >&2; exit 2; }
	@rm -rf $(IMAGE_DIR) && mkdir -p $(IMAGE_DIR)/root/usr/bin $(IMAGE_DIR)/root/usr/share/kratixfs/promises \
	  $(IMAGE_DIR)/root/kratix
	@cp $(BUILD)/kratixfs $(IMAGE_DIR)/root/usr/bin/kratixfs
	@ldd $(BUILD)/kratixfs | awk '$$2 == "=>" && $$3 ~ /^\// { print $$3 } $$1 ~ /^\// { print $$1 }' | \
	  while read -r lib; do mkdir -p $(IMAGE_DIR)/root$$(dirname $$lib) && \
	    cp -L $$lib $(IMAGE_DIR)/root$$lib || exit 1; done
	@cp -RL $(PROMISE) $(IMAGE_DIR)/root/usr/share/kratixfs/promises/$(notdir $(abspath $(PROMISE)))
	@printf '%s\n' 'FROM scratch' 'COPY root/ /' 'USER 65532:65532' \
	  'ENTRYPOINT $(IMAGE_ENTRYPOINT)' >$(IMAGE_DIR)/Containerfile
	buildah bud --quiet --layers=false -f $(IMAGE_DIR)/Containerfile -t $(IMAGE) $(IMAGE_DIR) >/dev/null
	@echo "image $(IMAGE) built: $$(find $(IMAGE_DIR)/root -type f | wc -l) files, $$(du -sh $(IMAGE_DIR)/root | cut -f1)"
	@echo "next: push it, then $(BUILD)/kratixfs promise --image $(IMAGE) $(PROMISE) | kubectl apply -f -"

# meson install: PREFIX (default /usr/local) and DESTDIR honoured.
install: build
	meson configure $(BUILD) -Dprefix=$(PREFIX)
	meson install -C $(BUILD) $(if $(DESTDIR),--destdir $(abspath $(DESTDIR)))

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_TSAN)
