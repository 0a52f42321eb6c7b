"""Ambience code synthesis and local runs of deployments (docs/deploy.md).

- `generate`: from a plan (manifest.analyse), the C++ glue of every node and the deployment
  description `ambience run` uses.
- `keys`: the deployment's key material, created at build time with `amb-remote-keys`.
- `run`: starts the nodes of a built deployment on this machine and stops them.
- `__main__`: `python3 -m synth nodes DIR` and `python3 -m synth generate DIR --out DIR`, run by
  CMake (deploy/synth/deployment.cmake).
"""
