// Package packaging holds no code of the agent: it is the folder of what
// installs Barbossa as a system service, and of the tests that install it
// for real.
//
//   - package.sh builds the .deb and .rpm with nfpm (nfpm.yaml; nfpm itself
//     pinned in tools/go.mod), and stages the container image's context.
//   - barbossa.service is the hardened systemd unit; barbossa.toml the
//     config the packages install; barbossa.sysusers the agent's user;
//     scripts/ the maintainer scripts.
//   - Dockerfile is the FROM scratch image.
//   - grafana-dashboard.json and alerts.yml serve a fleet (docs/DEPLOY.md).
//
// The tests install the .deb into a Debian 12 booted under systemd-nspawn
// and run the image on a private Docker Engine (internal/testenv), as root.
package packaging
