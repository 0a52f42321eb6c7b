// The node kernel of the hosted port (DESIGN.md §8): a supervisor process that runs each user
// group of a node as a child process, joined by channels (channel.hpp).
//
// A node is described before it starts (by hand today; by the deployment tool's generated glue
// later): its groups, each with the function its process runs, a shareable heap size and a
// restart policy, and the channels between them (a caller group, a serving group, ring sizes).
// The kernel group itself (`kernel_group`) may call and serve too: node services run there.
//
//     node_kernel kernel;
//     group_id store = kernel.add_group({"store", serve_store});
//     group_id app = kernel.add_group({"app", run_app});
//     channel_id to_store = *kernel.connect(app, store, ring_config);
//     kernel.start();                       // heaps, channels, then one process per group
//     auto loop = process_loop::create();   // after start: groups never hold its descriptors
//     kernel.run_on(**loop);                // reaps, reports and restarts groups
//     ...
//     kernel.stop();                        // SIGTERM, then SIGKILL; nothing left behind
//
// `start` creates, before forking anything, one memfd per group heap (plus a descriptor opened
// read-only), one memfd per channel (control block and ring region, mapped here), one status page
// per channel (written by the kernel only; groups map it read-only) and two eventfds per
// channel. Each group process then keeps only what is its own: its heap (read-write), the heaps
// of the groups that call it (read-only descriptors, so it can never write them), and the
// channels it is an end of; everything else is unmapped and closed in the child before `main`
// runs. See docs/hosted.md for the isolation this gives and what it does not.
//
// Group processes never come from the kernel's image as it is when they start: `start` first
// forks a *group image* process (a fork server), and every group process, first start and
// restart alike, is cloned from that image (CLONE_PARENT: the kernel stays its parent, so pidfds,
// waitpid and restarts work as for a direct child). Whatever the kernel reads after `start` —
// node keys, credentials, tokens — is therefore never in a group's memory, even after a group
// crashed and was restarted. Read secrets after `start`; environment variables the groups must
// not see are named with `withhold_environment`.
//
// When a group's process exits, the kernel marks each of its channels (the peer's in-flight calls
// fail with call_error::peer_exited), reports it through the `on_exit` callback and, if its policy
// says so, restarts it: it waits until every peer has drained the channel (acknowledged in the
// control block), re-initialises the ring in place and forks the group again. Peers attach to
// the fresh ring on their next call. SIGINT/SIGTERM (with `watch_stop_signals`) make the kernel
// report `stop_requested()`; `stop()` ends every group and closes every descriptor.
//
// On its loop (`run_on`), the kernel is descriptor watches (each group's pidfd, the signalfd) and
// one posted work item that reaps and restarts: an idle kernel makes no system call and arms no
// timer. Only while a channel waits for a peer to drain does a 1 ms timer look again.
//
// Threading: one thread (the kernel's loop). Not copyable.
#pragma once

#include <hosted/node/channel.hpp>
#include <hosted/node/shared_heap.hpp>
#include <hosted/node/shared_region.hpp>

#include <hosted/loop/process_loop.hpp>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <sys/types.h>
#include <vector>

namespace amb::hosted::node {

using group_id = std::uint32_t;
using channel_id = std::uint32_t;
/// The kernel group: the supervisor process itself.
inline constexpr group_id kernel_group = 0;

class group_context;

enum class restart_policy : std::uint8_t {
    never,       ///< report the exit; the group stays down
    on_failure,  ///< restart after a crash or a non-zero exit status (up to max_restarts)
    always,      ///< restart after any exit (up to max_restarts)
};

struct group_spec {
    std::string name;
    /// Runs in the group's process; its return value is the exit status.
    std::function<int(group_context&)> main;
    /// Bytes of the group's shareable heap.
    std::size_t heap_size = std::size_t{1} << 20;
    restart_policy restart = restart_policy::never;
    unsigned max_restarts = 3;
};

/// What a group's process (or the kernel, for kernel_group) sees of the node.
class group_context {
public:
    const std::string& name() const { return name_; }
    group_id id() const { return id_; }
    /// How many times this group was restarted before this run.
    unsigned restarts() const { return restarts_; }
    /// The group's own shareable heap (read-write).
    shared_heap& heap() { return heap_; }
    /// The link to call through `channel` (this group must be its caller).
    result<channel_link, int> caller_link(channel_id channel);
    /// The link to serve `channel` (this group must be its server).
    result<channel_link, int> server_link(channel_id channel);

private:
    friend class node_kernel;
    std::string name_;
    group_id id_ = 0;
    unsigned restarts_ = 0;
    shared_heap heap_;
    class node_kernel* kernel_ = nullptr;
    // Read-only mappings of the heaps of groups that call this one, by group id.
    std::vector<shared_region> caller_heaps_;
    // In a group's process: read-only mappings of the status pages of its channels, by channel
    // id (the kernel uses its own read-write mappings).
    std::vector<shared_region> channel_status_;
};

/// A group's fate, for `on_exit`.
struct group_exit {
    group_id group;
    std::string name;
    int wait_status;   ///< as from waitpid
    bool restarting;   ///< the policy restarts it
};

class node_kernel final {
public:
    explicit node_kernel(std::chrono::milliseconds stop_timeout = std::chrono::seconds(2));
    node_kernel(const node_kernel&) = delete;
    node_kernel& operator=(const node_kernel&) = delete;
    /// Stops every group and restores the signal mask.
    ~node_kernel();

    /// Sets the size of the kernel group's own shareable heap (before start; default 1 MiB).
    void set_kernel_heap_size(std::size_t bytes);

    /// Environment variables whose names start with `prefix` are erased (their bytes zeroed)
    /// from the group image at start: the kernel keeps them, no group process ever has them
    /// (before start).
    void withhold_environment(std::string prefix);

    /// Declares a group (before start). Ids start at 1.
    group_id add_group(group_spec spec);
    /// Declares a channel from `caller` to `server` (before start; either may be kernel_group).
    /// EINVAL for unknown groups, a group calling itself or bad ring sizes.
    result<channel_id, int> connect(group_id caller, group_id server, const rings::config& ring);

    /// Creates heaps and channels and starts every group. Error: errno (nothing is left running).
    result<void, int> start();

    /// Whether start was called.
    bool started() const { return started_; }

    /// The kernel group's context (its heap and its ends of channels). Valid after start.
    group_context& kernel() { return kernel_context_; }

    /// Blocks SIGTERM and SIGINT and receives them through a signalfd; the loop source then
    /// reports them through stop_requested(). Error: errno.
    result<void, int> watch_stop_signals();
    bool stop_requested() const { return stop_requested_; }

    /// Called (from the loop) for each group that exits.
    std::function<void(const group_exit&)> on_exit;

    /// Stops every group (SIGTERM, then SIGKILL after the stop timeout), reaps them and closes
    /// every channel, heap and descriptor. Idempotent.
    void stop();

    /// Processes of groups running now.
    std::size_t running() const;
    /// pid of a group's current process (-1 when not running).
    pid_t pid_of(group_id group) const;
    /// Times a group was restarted.
    unsigned restarts_of(group_id group) const;
    /// How a group's last process ended, as from waitpid (also when `stop` ended it); -1 while
    /// none has ended.
    int last_wait_status_of(group_id group) const;

    /// Watches the groups' exits and the stop signals on `loop` (after start; once): the
    /// kernel then reaps exited groups, marks their channels and restarts them when their peers
    /// have drained, from that loop. `loop` must outlive the kernel's stop(). Error: errno.
    result<void, int> run_on(hosted::loop::process_loop& loop);

private:
    friend class group_context;
    struct group_state;
    struct channel_state;

    result<void, int> start_group_image();
    [[noreturn]] void run_group_image(int requests);
    result<void, int> fork_group(group_state& group);
    [[noreturn]] void enter_child(group_state& group, unsigned restarts);
    void mark_exited(group_state& group, int status);
    bool try_restart(group_state& group);
    void reset_channel(channel_state& channel);
    void stop_group(group_state& group);
    result<void, int> watch_exit(group_state& group);
    void unwatch_exit(group_state& group);
    result<void, int> watch_signals();
    void wake_check();
    // Reaps, reports, resets and restarts (the work the loop runs after a watch fired).
    std::size_t check();

    std::chrono::milliseconds stop_timeout_;
    std::vector<std::unique_ptr<group_state>> groups_;  // [0] is the kernel group
    std::vector<std::unique_ptr<channel_state>> channels_;
    group_context kernel_context_;
    unique_fd signals_;
    hosted::loop::process_loop* loop_ = nullptr;
    ports::hosted::descriptor_watch signal_watch_{};
    bool signalled_ = false;
    // Loop work that runs check(): posted when a watch fires, armed while channels reset.
    struct check_work final : loop_work {
        explicit check_work(node_kernel& owner) noexcept : loop_work(&run), kernel(owner) {}
        static void run(loop_work& work) noexcept {
            (void)static_cast<check_work&>(work).kernel.check();
        }
        node_kernel& kernel;
    };
    check_work check_{*this};
    check_work retry_{*this};
    sigset_t saved_mask_{};
    bool started_ = false;
    bool stop_requested_ = false;
    pid_t kernel_pid_;
    std::vector<std::string> withheld_environment_;
    // The group image process (a child of the kernel) and the kernel's end of its socket.
    pid_t group_image_ = -1;
    unique_fd group_image_socket_;
};

}  // namespace amb::hosted::node
