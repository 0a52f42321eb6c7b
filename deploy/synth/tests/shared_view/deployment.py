# A 1 MiB view crossing two groups of one node without a copy: the producer (group `making`)
# allocates its buffer in its group's shareable heap (shareable_heap=True) and passes it to the
# viewer (group `looking`), which reports where the bytes lie. The end-to-end test
# (synth.e2e_test.shared_view) checks that they lie at the producer's offset in the producer's
# heap, mapped read-only in the viewer's process; a private buffer is the control (copied).
producer = service(
    name="producer", interface="interfaces/shared_view.lidl:demo::shared_view::producer",
    implementation="shared_view_producer", cls="demo::shared_view::producer_impl",
    header="producer_impl.hpp", shareable_heap=True,
    depends={"sink": "interfaces/shared_view.lidl:demo::shared_view::viewer"})
viewer = service(
    name="viewer", interface="interfaces/shared_view.lidl:demo::shared_view::viewer",
    implementation="shared_view_viewer", cls="demo::shared_view::viewer_impl",
    header="viewer_impl.hpp")

looker = instance(name="looker", service=viewer)
maker = instance(name="maker", service=producer, dependencies={"sink": looker})
group(name="making", services=[maker])
group(name="looking", services=[looker])

network(name="web", kind="http", port=8080)
node(name="box", networks={"web": "0.0.0.0:8080"})
deploy(node="box", groups=["making", "looking"])

export(service=maker, networks={"web": "/maker"})
