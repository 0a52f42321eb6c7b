"""The declarations of a deployment manifest, as the DSL records them.

Each DSL call (`service()`, `instance()`, ...) creates one of these objects and returns it, so a
manifest can pass the object (a handle) wherever a name is expected. Every object remembers the
manifest file and line of the call that made it (`where`). Nothing here is checked: the loader
keeps what the manifest says, the checker (checker.py) judges it.
"""

import dataclasses

from manifest.diagnostics import location

NETWORK_KINDS = ("udp", "tcp", "serial", "http")
PLATFORMS = ("hosted", "cortex-m")


@dataclasses.dataclass(eq=False)
class service:
    """An implementation of one lidl interface, with the interfaces it depends on."""
    name: str
    interface: str                      # "file.lidl:qualified::name" as written
    implementation: str                 # a CMake target
    depends: dict                       # slot -> interface spec as written
    doc: str
    where: location
    cls: str = ""                       # the C++ class implementing it (for code synthesis)
    header: str = ""                    # the header declaring `cls`
    config_type: str = ""               # "file.lidl:name" of its config struct, or ""
    shareable_heap: bool = False        # its constructor takes its group's shareable memory
    # Filled by the resolver (interfaces.py): qualified names and schema files.
    resolved_interface: object = None   # interfaces.interface or None
    resolved_depends: dict = dataclasses.field(default_factory=dict)  # slot -> interface
    resolved_config: object = None      # interfaces.config_type or None

    what = "service"


@dataclasses.dataclass(eq=False)
class instance:
    """A named, configured service whose dependency slots are bound to other instances."""
    name: str
    service: str                        # service name
    dependencies: dict                  # slot -> instance or HTTP import name
    config: dict
    where: location

    what = "instance"


@dataclasses.dataclass(eq=False)
class http_import:
    """An external HTTP service consumed through a lidl interface, bindable like an instance."""
    name: str
    interface: str
    url: str
    network: str                        # an http network through which it is reached, or None
    where: location
    resolved_interface: object = None

    what = "HTTP import"


@dataclasses.dataclass(eq=False)
class group:
    name: str
    instances: list
    where: location
    implicit: bool = False              # made for an instance that no group() names
    spin_us: int = None                 # the loop's spin period; None: the port's default

    what = "group"


@dataclasses.dataclass(eq=False)
class network:
    name: str
    kind: str
    cost: float                         # None: the kind's default (planner.DEFAULT_COSTS)
    encrypt: bool
    options: dict
    doc: str
    where: location

    what = "network"


@dataclasses.dataclass(eq=False)
class node:
    name: str
    platform: str
    networks: dict                      # network name -> address
    doc: str
    where: location

    what = "node"


@dataclasses.dataclass(eq=False)
class deployment:
    """One deploy(node, groups) call."""
    node: str
    groups: list
    where: location


@dataclasses.dataclass(eq=False)
class export:
    instance: str
    networks: dict                      # network name -> address (an HTTP path, a port, ...)
    where: location


@dataclasses.dataclass
class manifest:
    """Everything one deployment directory declares, in declaration order."""
    directory: str
    main_file: str
    files: list = dataclasses.field(default_factory=list)        # every manifest file loaded
    complete: bool = True   # False when a Python error stopped the manifest part-way
    services: dict = dataclasses.field(default_factory=dict)
    instances: dict = dataclasses.field(default_factory=dict)
    imports: dict = dataclasses.field(default_factory=dict)      # import_http, by name
    groups: dict = dataclasses.field(default_factory=dict)       # explicit and implicit
    networks: dict = dataclasses.field(default_factory=dict)
    nodes: dict = dataclasses.field(default_factory=dict)
    deployments: list = dataclasses.field(default_factory=list)
    exports: list = dataclasses.field(default_factory=list)
