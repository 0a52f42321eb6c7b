"""Analysis of benchmark `caplets` (issue 4, "Speed and size"). CAPLets against classic
macaroons (Debian's libmacaroons 0.3.0, the same HMAC-chain construction) in one run, for chains
of N = 1, 5, 10 and 20 steps, with the HMAC floor and both tokens' sizes.

The same content: step 0 grants Alice /home/alice with every right; each later step narrows it,
every third step (i % 3 == 2) by an expiry one day earlier than the last, the others by one more
path component (/home/alice/photos, .../photos/2025, ...). Step i is CAPLets frame i (a path
capability for the step's prefix with every right, the step's `expires`, and, as CAPLets requires
of a derivation, a copy of every constraint of frame i-1; frame 0 minted, the others derived) and
macaroon first-party caveat i ("path = /home/alice/..." or "time < 1767225600"), added to a
macaroon whose location "https://files.example.com" and identifier "root-key-2025-11/7f3a9c21"
name the origin and its key. So N frames against N caveats: CAPLets computes N HMACs,
libmacaroons N + 2 (key derivation and identifier come with its construction).

Both verifiers check everything: caplets::verify the tag chain, every derivation link and the
leaf's constraints at `now`; the macaroon verifier its signature chain and every caveat through
a real predicate (the path caveat normalised and containing the requested path, which is the
chain's narrowest path; the time caveat after `now`; anything else fails).

What is timed: verify/caplets/N is token_view::parse + caplets::verify from the token's bytes.
verify/macaroons/N is macaroon_verify of an already deserialized macaroon (the conservative
comparison, used for the target: the macaroon's parsing is free), and
deserialize_verify/macaroons/N adds macaroon_deserialize of the V1 text and macaroon_destroy (the
macaroon from its bytes). libmacaroons is used as its README shows: a macaroon_verifier created
once, a general predicate check registered with macaroon_verifier_satisfy_general, macaroon_verify
per token; Debian's release build of 0.3.0, on libsodium 1.0.18.

The HMAC floors: floor/hmac/N is N HMAC-SHA256 with our crypto backend
(amb::crypto::hmac_sha256::mac, OpenSSL, which caplets::verify uses) over the CAPLets frames'
bytes, each keyed with the previous tag; floor/sodium_hmac/N is N HMAC-SHA256 with libsodium's
crypto_auth_hmacsha256 (the primitive libmacaroons calls) over the N caveats' predicates, each
keyed with the previous tag (checked to equal amb::crypto's HMAC of the same chain).
parse/caplets/N and tags/caplets/N time token_view::parse and caplets::chain_tags alone, to show
where verify's time goes.

Sizes: the CAPLets text form is "cap1_" + base64url without padding of the token bytes (CAPLets
has no text encoder yet, so its length is computed); the macaroon's is macaroon_serialize's V1
text (0.3.0 has only V1: base64url without padding). macaroon_v1_bare is the same macaroon with an
empty location and a one-byte identifier, the least a macaroon can carry.

Targets, at N = 5:
- caplets_overhead_vs_libmacaroons_overhead <= 1.0: each system's verify time divided by its own
  floor of 5 HMACs (CAPLets: verify/caplets/5 / floor/hmac/5; libmacaroons: verify/macaroons/5 /
  floor/sodium_hmac/5), CAPLets' quotient over libmacaroons'. It compares the work around the
  HMACs, not the two SHA-256 implementations (libsodium's portable C against OpenSSL's). Note
  that libmacaroons' verify computes 7 HMACs for 5 caveats (its key derivation and identifier),
  so 2 of them count as its overhead here; the figure
  caplets_overhead_vs_libmacaroons_overhead_own_hmacs divides its time by 7 HMACs instead
  (every HMAC of this chain hashes under one block, so one costs floor/sodium_hmac/5 / 5).
- caplets_verify_5_vs_hmac_floor <= 1.3: CAPLets' verify against its own floor.
- token_text_size_vs_macaroon_v1 <= 1.0: the CAPLets text form against the macaroon's V1 text.
The raw time ratio libmacaroons_vs_caplets_verify_5 (which mostly measures the two SHA-256
implementations) is a figure."""

from tool import bench

ARGS = ["--benchmark_repetitions=7", "--benchmark_min_time=0.05",
        "--benchmark_enable_random_interleaving=true",
        "--benchmark_display_aggregates_only=true"]

LENGTHS = [1, 5, 10, 20]

TARGETS = ["caplets_overhead_vs_libmacaroons_overhead", "caplets_verify_5_vs_hmac_floor",
           "token_text_size_vs_macaroon_v1"]
SIZE_KINDS = ["caplets_bytes", "caplets_text", "macaroon_v1", "macaroon_v1_bare"]


def _size(results, kind, n):
    """A size entry's bytes: its time in ns (manual time), whatever suffix Google Benchmark added
    to the name ("/iterations:1/manual_time")."""
    prefix = f"size/{kind}/{n}/"
    for name, value in results.items():
        if name.startswith(prefix):
            return round(value)
    raise KeyError(prefix)


def _line(xs, ys):
    """Least-squares intercept and slope of ys against xs."""
    count = len(xs)
    mean_x = sum(xs) / count
    mean_y = sum(ys) / count
    slope = (sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) /
             sum((x - mean_x) ** 2 for x in xs))
    return mean_y - slope * mean_x, slope


def analyse(results, counters):
    # One thread, pure computation: both sides compared on CPU time (bench/README.md, Rules).
    results = bench.compute_times(results, counters)
    figures = {}
    for n in LENGTHS:
        caplets = results[f"verify/caplets/{n}"]
        macaroons = results[f"verify/macaroons/{n}"]
        from_text = results[f"deserialize_verify/macaroons/{n}"]
        floor = results[f"floor/hmac/{n}"]
        sodium_floor = results[f"floor/sodium_hmac/{n}"]
        parse = results[f"parse/caplets/{n}"]
        tags = results[f"tags/caplets/{n}"]
        figures[f"verify_caplets_{n}_ns"] = caplets
        figures[f"verify_macaroons_{n}_ns"] = macaroons
        figures[f"deserialize_verify_macaroons_{n}_ns"] = from_text
        figures[f"hmac_floor_{n}_ns"] = floor
        figures[f"sodium_hmac_floor_{n}_ns"] = sodium_floor
        figures[f"caplets_overhead_{n}"] = caplets / floor
        figures[f"libmacaroons_overhead_{n}"] = macaroons / sodium_floor
        figures[f"caplets_overhead_vs_libmacaroons_overhead_{n}"] = (
            (caplets / floor) / (macaroons / sodium_floor))
        # libmacaroons' verify computes n + 2 HMACs, all of one block of message.
        figures[f"caplets_overhead_vs_libmacaroons_overhead_own_hmacs_{n}"] = (
            (caplets / floor) / (macaroons / (sodium_floor * (n + 2) / n)))
        figures[f"sodium_vs_crypto_hmac_floor_{n}"] = sodium_floor / floor
        figures[f"caplets_{n}_parse_ns"] = parse
        figures[f"caplets_{n}_chain_tags_ns"] = tags
        figures[f"caplets_{n}_links_leaf_compare_ns"] = caplets - parse - tags
        figures[f"libmacaroons_vs_caplets_verify_{n}"] = macaroons / caplets
        figures[f"libmacaroons_from_text_vs_caplets_verify_{n}"] = from_text / caplets
        figures[f"caplets_verify_{n}_vs_hmac_floor"] = caplets / floor
    for n in LENGTHS:
        for kind in SIZE_KINDS:
            figures[f"size_{kind}_{n}"] = _size(results, kind, n)
        macaroon = _size(results, "macaroon_v1", n)
        figures[f"token_text_size_vs_macaroon_v1_{n}"] = _size(results, "caplets_text", n) / macaroon
        figures[f"token_text_size_vs_macaroon_v1_bare_{n}"] = (
            _size(results, "caplets_text", n) / _size(results, "macaroon_v1_bare", n))
    # libmacaroons' cost as fixed + per caveat (its caveats are small and of one size, so the
    # line fits). No such line for CAPLets: its frames grow along the chain (longer paths, kept
    # constraints), so its time per frame grows with N.
    for key, name in [("verify/macaroons", "macaroons_verify"),
                      ("deserialize_verify/macaroons", "macaroons_deserialize_verify")]:
        fixed, per_caveat = _line(LENGTHS, [results[f"{key}/{n}"] for n in LENGTHS])
        figures[f"{name}_fixed_ns"] = fixed
        figures[f"{name}_per_caveat_ns"] = per_caveat
    figures["token_text_size_vs_macaroon_v1"] = figures["token_text_size_vs_macaroon_v1_5"]
    figures["caplets_overhead_vs_libmacaroons_overhead"] = (
        figures["caplets_overhead_vs_libmacaroons_overhead_5"])
    figures["caplets_overhead_vs_libmacaroons_overhead_own_hmacs"] = (
        figures["caplets_overhead_vs_libmacaroons_overhead_own_hmacs_5"])

    targets = [
        {"name": "caplets_overhead_vs_libmacaroons_overhead",
         "value": figures["caplets_overhead_vs_libmacaroons_overhead"], "op": "<=",
         "target": 1.0},
        {"name": "caplets_verify_5_vs_hmac_floor",
         "value": figures["caplets_verify_5_vs_hmac_floor"], "op": "<=", "target": 1.3},
        {"name": "token_text_size_vs_macaroon_v1",
         "value": figures["token_text_size_vs_macaroon_v1"], "op": "<=", "target": 1.0},
    ]

    def plot(plt, prefix):
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
        ax = axes[0]
        ax.plot(LENGTHS, [results[f"verify/caplets/{n}"] / 1000 for n in LENGTHS], marker="o",
                label="CAPLets: parse + verify")
        ax.plot(LENGTHS, [results[f"verify/macaroons/{n}"] / 1000 for n in LENGTHS], marker="s",
                label="libmacaroons: verify (deserialized)")
        ax.plot(LENGTHS, [results[f"deserialize_verify/macaroons/{n}"] / 1000 for n in LENGTHS],
                marker="s", linestyle=":", color="tab:orange",
                label="libmacaroons: deserialize + verify")
        ax.plot(LENGTHS, [results[f"floor/hmac/{n}"] / 1000 for n in LENGTHS], linestyle="--",
                color="gray", label="CAPLets floor: N HMAC-SHA256 (OpenSSL) over the frames")
        ax.plot(LENGTHS, [results[f"floor/sodium_hmac/{n}"] / 1000 for n in LENGTHS],
                linestyle="--", color="tab:orange",
                label="libmacaroons floor: N HMAC-SHA256 (libsodium) over the caveats")
        ax.set_xlabel("frames / caveats (N)")
        ax.set_ylabel("verify time (µs)")
        ax.set_title("Verifying the same delegation chain")
        ax.set_xticks(LENGTHS)
        ax.grid(True, alpha=0.3)
        ax.legend()
        ax = axes[1]
        for kind, label, style in [
                ("caplets_text", "CAPLets text (cap1_ + base64url)", "-"),
                ("caplets_bytes", "CAPLets bytes", ":"),
                ("macaroon_v1", "macaroon V1 text", "-"),
                ("macaroon_v1_bare", "macaroon V1 text, bare location/identifier", ":")]:
            ax.plot(LENGTHS, [_size(results, kind, n) for n in LENGTHS], marker="o",
                    linestyle=style, label=label)
        ax.set_xlabel("frames / caveats (N)")
        ax.set_ylabel("token size (bytes or characters)")
        ax.set_title("Token size for the same content")
        ax.set_xticks(LENGTHS)
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path = prefix + "_verify_and_size.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return [path]

    return figures, targets, [plot]
