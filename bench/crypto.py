"""Analysis of benchmark `crypto` (issue: foundation). Target: hmac_vs_floor <= 1.5, where
hmac_vs_floor = our HMAC-SHA256 with a fresh 32-byte key over a 64-byte message divided by the
time of four SHA-256 compressions."""

from tool import bench

ARGS = ["--benchmark_repetitions=7", "--benchmark_min_time=0.05",
        "--benchmark_enable_random_interleaving=true",
        "--benchmark_display_aggregates_only=true"]
TARGETS = ["hmac_vs_floor"]

SIZES = [16, 32, 48, 55, 64, 96, 128, 256, 512, 1024]


def compressions(size):
    """SHA-256 compressions an HMAC over `size` bytes needs: the inner hash covers the key block
    and the padded message, the outer hash the key block and the padded inner digest."""
    return 1 + (size + 9 + 63) // 64 + 2


def analyse(results, counters):
    # One thread, pure computation: both sides compared on CPU time (bench/README.md, Rules).
    results = bench.compute_times(results, counters)
    per_compression = results["sha256_compress/16"] / 16
    floor4 = results["sha256_compress/4"]
    ours = results["hmac_ours/64"]
    figures = {
        "hmac_ours_64B_ns": ours,
        "hmac_openssl_HMAC_64B_ns": results["hmac_openssl/64"],
        "hmac_mbedtls_64B_ns": results["hmac_mbedtls/64"],
        "sha256_4_compressions_ns": floor4,
        "sha256_5_compressions_ns": results["sha256_compress/5"],
        "sha256_compression_ns": per_compression,
        "hmac_vs_floor": ours / floor4,
        "hmac_64B_vs_its_5_compressions": ours / results["sha256_compress/5"],
        "hmac_55B_vs_floor": results["hmac_ours/55"] / floor4,
        "openssl_HMAC_vs_ours": results["hmac_openssl/64"] / ours,
        "mbedtls_hmac_vs_ours": results["hmac_mbedtls/64"] / ours,
    }
    targets = [{"name": "hmac_vs_floor", "value": figures["hmac_vs_floor"], "op": "<=",
                "target": 1.5}]

    def plot(plt, prefix):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for key, label in [("hmac_ours", "Ambience hmac_sha256::mac"),
                           ("hmac_openssl", "OpenSSL HMAC()"),
                           ("hmac_mbedtls", "mbedTLS mbedtls_md_hmac()")]:
            ax.plot(SIZES, [results[f"{key}/{s}"] for s in SIZES], marker="o", label=label)
        ax.plot(SIZES, [compressions(s) * per_compression for s in SIZES], linestyle="--",
                color="gray", label="floor: SHA-256 compressions needed")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("message size (bytes)")
        ax.set_ylabel("time per HMAC, fresh key (ns)")
        ax.set_title("HMAC-SHA256 with a fresh 32-byte key")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        path = prefix + "_hmac.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return [path]

    return figures, targets, [plot]
