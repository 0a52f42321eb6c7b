#include <hosted/node/node_kernel.hpp>

#include <cerrno>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

namespace amb::hosted::node {

struct node_kernel::group_state {
    group_spec spec;
    group_id id = 0;
    shared_region heap;           // read-write (mapped only in the owner)
    unique_fd heap_readonly;      // the same memfd opened read-only, for the groups it calls
    pid_t pid = -1;
    unique_fd pidfd;
    node_kernel* kernel = nullptr;
    ports::hosted::descriptor_watch exit_watch;  // the pidfd, on the kernel's loop
    bool exited = false;           // the pidfd became readable (the process ended)
    bool running = false;
    bool restart_pending = false;  // exited; restarts once its channels are reset
    unsigned restarts = 0;
    int last_status = -1;
};

struct node_kernel::channel_state {
    group_id caller = 0;
    group_id server = 0;
    rings::config ring{};
    shared_region memory;  // control block + ring region, mapped here
    shared_region status;  // channel_status, written here only
    unique_fd status_readonly; // the same page opened read-only, for the ends' processes
    unique_fd request_event;
    unique_fd reply_event;
    bool resetting = false;  // a side left; waiting for the other to drain
    channel_control& control() const {
        return *reinterpret_cast<channel_control*>(memory.bytes().data());
    }
    channel_status& state() const {
        return *reinterpret_cast<channel_status*>(status.bytes().data());
    }
};

namespace {

result<unique_fd, int> open_pidfd(pid_t pid) noexcept {
    long fd = ::syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0)
        return failure{errno};
    return unique_fd(static_cast<int>(fd));
}

bool readable(int fd, int timeout_ms) noexcept {
    pollfd watched{fd, POLLIN, 0};
    for (;;) {
        int ready = ::poll(&watched, 1, timeout_ms);
        if (ready < 0 && errno == EINTR)
            continue;
        return ready > 0;
    }
}

bool failed(int status) {
    return !WIFEXITED(status) || WEXITSTATUS(status) != 0;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// group_context

namespace {

// The status page of `channel` as this process sees it: the kernel's own read-write mapping in
// the kernel, the read-only one in a group's process.
const channel_status* status_page(const std::vector<shared_region>& readonly, channel_id channel,
                                  const shared_region& kernel_mapping, bool in_kernel) {
    const shared_region* page = &kernel_mapping;
    if (!in_kernel) {
        if (channel >= readonly.size())
            return nullptr;
        page = &readonly[channel];
    }
    if (page->bytes().size() < sizeof(channel_status))
        return nullptr;
    return reinterpret_cast<const channel_status*>(page->bytes().data());
}

} // namespace

result<channel_link, int> group_context::caller_link(channel_id channel) {
    if (kernel_ == nullptr || channel >= kernel_->channels_.size())
        return failure{EINVAL};
    auto& state = *kernel_->channels_[channel];
    const channel_status* status =
        status_page(channel_status_, channel, state.status, id_ == kernel_group);
    if (state.caller != id_ || !state.memory.bytes().data() || status == nullptr)
        return failure{EINVAL};
    return channel_link{state.memory.bytes(),
                        state.request_event.get(),
                        state.reply_event.get(),
                        heap_.view(),
                        &heap_,
                        status,
                        state.ring};
}

result<channel_link, int> group_context::server_link(channel_id channel) {
    if (kernel_ == nullptr || channel >= kernel_->channels_.size())
        return failure{EINVAL};
    auto& state = *kernel_->channels_[channel];
    const channel_status* status =
        status_page(channel_status_, channel, state.status, id_ == kernel_group);
    if (state.server != id_ || !state.memory.bytes().data() ||
        state.caller >= caller_heaps_.size() || status == nullptr)
        return failure{EINVAL};
    const shared_region& heap = caller_heaps_[state.caller];
    return channel_link{state.memory.bytes(),
                        state.request_event.get(),
                        state.reply_event.get(),
                        {heap.bytes().data(), heap.bytes().size()},
                        nullptr,
                        status,
                        state.ring};
}

// ---------------------------------------------------------------------------------------------
// node_kernel

node_kernel::node_kernel(std::chrono::milliseconds stop_timeout)
    : stop_timeout_(stop_timeout), kernel_pid_(::getpid()) {
    auto kernel = std::make_unique<group_state>();
    kernel->spec.name = "kernel";
    kernel->id = kernel_group;
    groups_.push_back(std::move(kernel));
}

node_kernel::~node_kernel() {
    stop();
    if (signals_) {
        signals_.reset();
        ::pthread_sigmask(SIG_SETMASK, &saved_mask_, nullptr);
    }
}

void node_kernel::set_kernel_heap_size(std::size_t bytes) {
    AMB_REQUIRE(!started_, "node_kernel::set_kernel_heap_size after start");
    groups_[0]->spec.heap_size = bytes;
}

group_id node_kernel::add_group(group_spec spec) {
    AMB_REQUIRE(!started_, "node_kernel::add_group after start");
    auto group = std::make_unique<group_state>();
    group->spec = std::move(spec);
    group->id = static_cast<group_id>(groups_.size());
    group->kernel = this;
    groups_.push_back(std::move(group));
    return groups_.back()->id;
}

result<channel_id, int> node_kernel::connect(group_id caller, group_id server,
                                             const rings::config& ring) {
    AMB_REQUIRE(!started_, "node_kernel::connect after start");
    if (caller >= groups_.size() || server >= groups_.size() || caller == server ||
        !channel_size(ring))
        return failure{EINVAL};
    auto channel = std::make_unique<channel_state>();
    channel->caller = caller;
    channel->server = server;
    channel->ring = ring;
    channels_.push_back(std::move(channel));
    return static_cast<channel_id>(channels_.size() - 1);
}

result<void, int> node_kernel::start() {
    AMB_REQUIRE(!started_, "node_kernel::start twice");
    started_ = true;
    // Groups run with the kernel's user id: without this, any group could read the kernel's
    // memory (and its siblings') through /proc/PID/mem or ptrace, keys included. Not dumpable,
    // only a process with CAP_SYS_PTRACE can. Inherited by the group image and every group.
    if (::prctl(PR_SET_DUMPABLE, 0) < 0)
        return failure{errno};
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    for (auto& group : groups_) {
        std::size_t size = (group->spec.heap_size + page - 1) / page * page;
        if (size == 0)
            size = page;
        auto heap = shared_region::create(size);
        if (!heap)
            return failure{heap.error()};
        auto readonly = heap->open_readonly();
        if (!readonly)
            return failure{readonly.error()};
        group->heap = std::move(*heap);
        group->heap_readonly = std::move(*readonly);
    }
    for (auto& channel : channels_) {
        auto size = channel_size(channel->ring);
        auto memory = shared_region::create(*size);
        if (!memory)
            return failure{memory.error()};
        channel->memory = std::move(*memory);
        if (!init_channel(channel->memory.bytes(), channel->ring))
            return failure{EINVAL};
        auto status = shared_region::create(sizeof(channel_status));
        if (!status)
            return failure{status.error()};
        auto status_readonly = status->open_readonly();
        if (!status_readonly)
            return failure{status_readonly.error()};
        channel->status = std::move(*status);
        channel->status_readonly = std::move(*status_readonly);
        new (channel->status.bytes().data()) channel_status{};
        channel->request_event = unique_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        channel->reply_event = unique_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        if (!channel->request_event || !channel->reply_event)
            return failure{errno};
    }
    // The kernel group's own context: its heap and read-only views of its callers' heaps.
    kernel_context_.name_ = "kernel";
    kernel_context_.id_ = kernel_group;
    kernel_context_.kernel_ = this;
    {
        // The kernel maps its heap from a duplicate so that groups_[0] keeps the original.
        unique_fd copy(::fcntl(groups_[0]->heap.fd(), F_DUPFD_CLOEXEC, 0));
        auto mapped = shared_region::map(std::move(copy), groups_[0]->heap.bytes().size());
        if (!mapped)
            return failure{mapped.error()};
        kernel_context_.heap_ = shared_heap(std::move(*mapped));
        kernel_context_.caller_heaps_.resize(groups_.size());
        for (auto& channel : channels_) {
            if (channel->server != kernel_group ||
                kernel_context_.caller_heaps_[channel->caller].bytes().data())
                continue;
            auto& caller = *groups_[channel->caller];
            unique_fd readonly(::fcntl(caller.heap_readonly.get(), F_DUPFD_CLOEXEC, 0));
            auto view = shared_region::map_readonly(std::move(readonly), caller.heap.bytes().size());
            if (!view)
                return failure{view.error()};
            kernel_context_.caller_heaps_[channel->caller] = std::move(*view);
        }
    }
    // Every group process is cloned from this image, made before the kernel reads any secret.
    if (auto image = start_group_image(); !image) {
        stop();
        return failure{image.error()};
    }
    for (std::size_t i = 1; i < groups_.size(); ++i) {
        if (auto forked = fork_group(*groups_[i]); !forked) {
            stop();
            return failure{forked.error()};
        }
    }
    return {};
}

// The group image: a process forked at start, before the kernel reads any secret, that clones
// each group process on request. It is trusted code of the kernel (it reads only the kernel's
// requests), single-threaded, and does nothing else.
//
// Requests and replies are fixed-size messages on a SOCK_SEQPACKET pair.
namespace {

struct image_request {
    std::uint32_t group;
    std::uint32_t restarts;
};
struct image_reply {
    std::int32_t pid; // or -errno
};

} // namespace

void node_kernel::withhold_environment(std::string prefix) {
    AMB_REQUIRE(!started_, "node_kernel::withhold_environment after start");
    withheld_environment_.push_back(std::move(prefix));
}

result<void, int> node_kernel::start_group_image() {
    int sockets[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sockets) < 0)
        return failure{errno};
    unique_fd kernel_end(sockets[0]);
    unique_fd image_end(sockets[1]);
    pid_t pid = ::fork();
    if (pid < 0)
        return failure{errno};
    if (pid == 0) {
        kernel_end.reset();
        run_group_image(image_end.release());
    }
    group_image_ = pid;
    group_image_socket_ = std::move(kernel_end);
    return {};
}

void node_kernel::run_group_image(int requests) {
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || ::getppid() != kernel_pid_)
        ::_exit(126);
    signals_.reset();
    // Environment the kernel keeps to itself: zero the bytes (they may sit on the initial
    // stack, where unsetenv would leave them), then drop the variables.
    for (const std::string& prefix : withheld_environment_) {
        for (bool found = true; found;) {
            found = false;
            for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
                if (std::strncmp(*entry, prefix.c_str(), prefix.size()) != 0)
                    continue;
                const char* equals = std::strchr(*entry, '=');
                std::string name(*entry, equals ? equals - *entry : std::strlen(*entry));
                volatile char* bytes = *entry;
                for (std::size_t i = 0, n = std::strlen(*entry); i < n; ++i)
                    bytes[i] = 0;
                // The zeroed entry reads as an empty string; unsetenv takes it out of environ.
                ::unsetenv(name.c_str());
                found = true;
                break;
            }
        }
    }
    for (;;) {
        image_request request{};
        ssize_t got = ::recv(requests, &request, sizeof request, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got != static_cast<ssize_t>(sizeof request) || request.group == kernel_group ||
            request.group >= groups_.size())
            ::_exit(0); // the kernel closed its end (stop) or broke the protocol
        // CLONE_PARENT: the group is the kernel's child, not this process's, so that the kernel
        // reaps it, holds its pidfd and restarts it exactly as it would a child it forked.
        // TODO(port): the raw clone skips glibc's fork handlers; this process is single-threaded
        // and idle here, so no lock is held, but the child's cached thread id is this process's
        // (only pthread calls that name the main thread by its id notice).
        long pid = ::syscall(SYS_clone, CLONE_PARENT | SIGCHLD, nullptr, nullptr, nullptr, 0);
        if (pid == 0) {
            ::close(requests);
            enter_child(*groups_[request.group], request.restarts);
        }
        image_reply reply{pid < 0 ? -errno : static_cast<std::int32_t>(pid)};
        while (::send(requests, &reply, sizeof reply, MSG_NOSIGNAL) < 0 && errno == EINTR) {
        }
    }
}

result<void, int> node_kernel::fork_group(group_state& group) {
    if (!group_image_socket_)
        return failure{ECHILD};
    image_request request{group.id, group.restarts};
    ssize_t sent;
    while ((sent = ::send(group_image_socket_.get(), &request, sizeof request, MSG_NOSIGNAL)) < 0 &&
           errno == EINTR) {
    }
    if (sent != static_cast<ssize_t>(sizeof request))
        return failure{sent < 0 ? errno : EPROTO};
    image_reply reply{};
    ssize_t got;
    while ((got = ::recv(group_image_socket_.get(), &reply, sizeof reply, 0)) < 0 &&
           errno == EINTR) {
    }
    if (got != static_cast<ssize_t>(sizeof reply))
        return failure{got < 0 ? errno : EPROTO};
    if (reply.pid <= 0)
        return failure{reply.pid < 0 ? -reply.pid : EPROTO};
    const pid_t pid = reply.pid;
    group.pid = pid;
    auto pidfd = open_pidfd(pid);
    if (!pidfd) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        return failure{pidfd.error()};
    }
    group.pidfd = std::move(*pidfd);
    group.running = true;
    group.exited = false;
    return watch_exit(group);
}

result<void, int> node_kernel::watch_exit(group_state& group) {
    if (loop_ == nullptr || !group.pidfd)
        return {};
    group.exit_watch.fd = group.pidfd.get();
    group.exit_watch.context = &group;
    group.exit_watch.ready = [](void* context, std::uint32_t) noexcept {
        auto& exited = *static_cast<group_state*>(context);
        exited.exited = true;
        exited.kernel->wake_check();
    };
    if (auto watched = loop_->driver().watch(group.exit_watch, EPOLLIN); !watched)
        return failure{watched.error()};
    return {};
}

void node_kernel::unwatch_exit(group_state& group) {
    if (loop_ != nullptr && group.pidfd && group.exit_watch.fd == group.pidfd.get())
        loop_->driver().unwatch(group.exit_watch);
    group.exit_watch.fd = -1;
}

void node_kernel::wake_check() {
    if (loop_ != nullptr && !check_.pending())
        loop_->loop().post(check_);
}

result<void, int> node_kernel::run_on(hosted::loop::process_loop& loop) {
    AMB_REQUIRE(loop_ == nullptr, "node_kernel::run_on twice");
    AMB_REQUIRE(started_, "node_kernel::run_on before start (make the loop after start: the "
                          "group image must not inherit the loop's descriptors)");
    loop_ = &loop;
    for (auto& group : groups_)
        if (group->running)
            if (auto watched = watch_exit(*group); !watched)
                return watched;
    if (signals_)
        if (auto watched = watch_signals(); !watched)
            return watched;
    // Exits that happened before: look once.
    for (auto& group : groups_)
        group->exited = group->running;
    wake_check();
    return {};
}

result<void, int> node_kernel::watch_signals() {
    signal_watch_.fd = signals_.get();
    signal_watch_.context = this;
    signal_watch_.ready = [](void* context, std::uint32_t) noexcept {
        auto& kernel = *static_cast<node_kernel*>(context);
        kernel.signalled_ = true;
        kernel.wake_check();
    };
    if (auto watched = loop_->driver().watch(signal_watch_, EPOLLIN); !watched)
        return failure{watched.error()};
    return {};
}

void node_kernel::enter_child(group_state& group, unsigned restarts) {
    // Die with the kernel, and do not miss its death between fork and prctl.
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || ::getppid() != kernel_pid_)
        ::_exit(126);
    sigset_t none;
    sigemptyset(&none);
    ::pthread_sigmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGTERM, SIG_DFL);
    ::signal(SIGINT, SIG_DFL);
    signals_.reset();

    group_context context;
    context.name_ = group.spec.name;
    context.id_ = group.id;
    context.restarts_ = restarts;
    context.kernel_ = this;
    context.caller_heaps_.resize(groups_.size());
    // Its own heap, read-write.
    if (auto mapped = shared_region::map(unique_fd(::dup(group.heap.fd())), group.heap.bytes().size()))
        context.heap_ = shared_heap(std::move(*mapped));
    else
        ::_exit(125);
    // The heaps of the groups that call it, read-only, from read-only descriptors.
    for (auto& channel : channels_) {
        if (channel->server != group.id || context.caller_heaps_[channel->caller].bytes().data())
            continue;
        auto& caller = *groups_[channel->caller];
        auto view = shared_region::map_readonly(unique_fd(::dup(caller.heap_readonly.get())),
                                                caller.heap.bytes().size());
        if (!view)
            ::_exit(125);
        context.caller_heaps_[channel->caller] = std::move(*view);
    }
    // The status pages of its channels, read-only from read-only descriptors: only the kernel
    // moves an epoch or says that a peer left.
    context.channel_status_.resize(channels_.size());
    for (std::size_t i = 0; i < channels_.size(); ++i) {
        auto& channel = *channels_[i];
        if (channel.caller != group.id && channel.server != group.id)
            continue;
        auto view = shared_region::map_readonly(unique_fd(::dup(channel.status_readonly.get())),
                                                sizeof(channel_status));
        if (!view)
            ::_exit(125);
        context.channel_status_[i] = std::move(*view);
    }
    // Nothing else of the node stays reachable: other channels are unmapped and closed, no
    // status page stays writable, and no read-write descriptor of any heap survives (its own
    // heap is mapped; the mapping keeps the memory, the descriptor is not needed).
    for (auto& channel : channels_) {
        channel->status.reset();
        channel->status_readonly.reset();
        if (channel->caller == group.id || channel->server == group.id)
            continue;
        channel->memory.reset();
        channel->request_event.reset();
        channel->reply_event.reset();
    }
    for (auto& other : groups_) {
        other->heap.reset();
        other->heap_readonly.reset();
        other->pidfd.reset();
    }
    kernel_context_.heap_ = shared_heap();
    kernel_context_.caller_heaps_.clear();
    int status = group.spec.main ? group.spec.main(context) : 0;
    ::_exit(status);
}

result<void, int> node_kernel::watch_stop_signals() {
    if (signals_)
        return {};
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    if (int error = ::pthread_sigmask(SIG_BLOCK, &stop_signals, &saved_mask_); error != 0)
        return failure{error};
    signals_ = unique_fd(::signalfd(-1, &stop_signals, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signals_) {
        int error = errno;
        ::pthread_sigmask(SIG_SETMASK, &saved_mask_, nullptr);
        return failure{error};
    }
    if (loop_ != nullptr)
        return watch_signals();
    return {};
}

std::size_t node_kernel::check() {
    std::size_t done = 0;
    if (signalled_) {
        signalled_ = false;
        signalfd_siginfo received{};
        while (::read(signals_.get(), &received, sizeof received) > 0) {
        }
        stop_requested_ = true;
        ++done;
    }
    for (std::size_t id = 1; id < groups_.size(); ++id) {
        group_state& group = *groups_[id];
        if (!group.exited || !group.running)
            continue;
        group.exited = false;
        int status = 0;
        pid_t reaped = ::waitpid(group.pid, &status, WNOHANG);
        if (reaped != group.pid)
            continue;
        mark_exited(group, status);
        ++done;
    }
    bool resetting = false;
    for (auto& channel : channels_)
        if (channel->resetting) {
            reset_channel(*channel);
            resetting |= channel->resetting;
            ++done;
        }
    bool restarting = false;
    for (auto& group : groups_) {
        if (group->restart_pending && try_restart(*group))
            ++done;
        restarting |= group->restart_pending;
    }
    // A peer that drains writes a flag in shared memory and rings nothing the kernel watches:
    // while a channel waits for that, look again every millisecond (only then: an idle kernel
    // arms no timer).
    if ((resetting || restarting) && loop_ != nullptr && !retry_.pending())
        loop_->loop().run_at(retry_, loop_->loop().now() + std::chrono::milliseconds(1));
    return done;
}

void node_kernel::mark_exited(group_state& group, int status) {
    unwatch_exit(group);
    group.pidfd.reset();
    group.running = false;
    group.pid = -1;
    group.last_status = status;
    const bool wanted = group.spec.restart == restart_policy::always ||
                        (group.spec.restart == restart_policy::on_failure && failed(status));
    group.restart_pending = wanted && group.restarts < group.spec.max_restarts && !stop_requested_;
    // Its peers learn at once: in-flight calls fail instead of waiting for a dead process.
    for (auto& channel : channels_) {
        if (channel->server == group.id) {
            channel->state().server_gone.store(1, std::memory_order_release);
            (void)signal_event(channel->reply_event.get());
            channel->resetting = group.restart_pending;
        } else if (channel->caller == group.id) {
            channel->state().caller_gone.store(1, std::memory_order_release);
            (void)signal_event(channel->request_event.get());
            channel->resetting = group.restart_pending;
        }
    }
    if (on_exit)
        on_exit(group_exit{group.id, group.spec.name, status, group.restart_pending});
}

void node_kernel::reset_channel(channel_state& channel) {
    channel_control& control = channel.control();
    channel_status& status = channel.state();
    const bool server_left = status.server_gone.load(std::memory_order_acquire) != 0;
    const bool caller_left = status.caller_gone.load(std::memory_order_acquire) != 0;
    // The surviving side must have stopped touching the ring (or be gone as well).
    auto peer_quiet = [&](group_id peer, const std::atomic<std::uint32_t>& drained) {
        return drained.load(std::memory_order_acquire) != 0 ||
               (peer != kernel_group && !groups_[peer]->running);
    };
    if (server_left && !caller_left && !peer_quiet(channel.caller, control.caller_drained))
        return;
    if (caller_left && !server_left && !peer_quiet(channel.server, control.server_drained))
        return;
    if (!rings::ring_region::init(channel.memory.bytes().subspan(channel_ring_offset), channel.ring))
        return;
    // The control block is rewritten whole: the group that left may have written anything.
    control.magic = channel_control::magic_value;
    control.caller_drained.store(0, std::memory_order_relaxed);
    control.server_drained.store(0, std::memory_order_relaxed);
    control.server_sleeping.store(0, std::memory_order_relaxed);
    control.caller_sleeping.store(0, std::memory_order_relaxed);
    status.server_gone.store(0, std::memory_order_relaxed);
    status.caller_gone.store(0, std::memory_order_relaxed);
    status.epoch.fetch_add(1, std::memory_order_acq_rel);
    channel.resetting = false;
    (void)signal_event(channel.request_event.get());
    (void)signal_event(channel.reply_event.get());
}

bool node_kernel::try_restart(group_state& group) {
    for (auto& channel : channels_)
        if (channel->resetting && (channel->caller == group.id || channel->server == group.id))
            return false;
    group.restart_pending = false;
    ++group.restarts;
    if (!fork_group(group)) {
        if (on_exit)
            on_exit(group_exit{group.id, group.spec.name, group.last_status, false});
        return false;
    }
    return true;
}

void node_kernel::stop_group(group_state& group) {
    if (group.running && group.pid > 0) {
        ::kill(group.pid, SIGTERM);
        if (!readable(group.pidfd.get(), static_cast<int>(stop_timeout_.count())))
            ::kill(group.pid, SIGKILL);
        int status = 0;
        while (::waitpid(group.pid, &status, 0) < 0 && errno == EINTR) {
        }
        group.last_status = status;
    }
    group.running = false;
    group.restart_pending = false;
    group.pid = -1;
    unwatch_exit(group);
    group.pidfd.reset();
}

void node_kernel::stop() {
    for (std::size_t i = 1; i < groups_.size(); ++i)
        stop_group(*groups_[i]);
    if (group_image_ > 0) {
        // Closing its socket ends it; SIGKILL in case it is stuck, then reap it.
        group_image_socket_.reset();
        ::kill(group_image_, SIGKILL);
        while (::waitpid(group_image_, nullptr, 0) < 0 && errno == EINTR) {
        }
        group_image_ = -1;
    }
    kernel_context_.heap_ = shared_heap();
    kernel_context_.caller_heaps_.clear();
    for (auto& channel : channels_) {
        channel->memory.reset();
        channel->status.reset();
        channel->status_readonly.reset();
        channel->request_event.reset();
        channel->reply_event.reset();
        channel->resetting = false;
    }
    for (auto& group : groups_) {
        group->heap.reset();
        group->heap_readonly.reset();
    }
    if (loop_ != nullptr) {
        if (signals_ && signal_watch_.fd == signals_.get())
            loop_->driver().unwatch(signal_watch_);
        signal_watch_.fd = -1;
        loop_->loop().cancel(check_);
        loop_->loop().cancel(retry_);
        loop_ = nullptr;
    }
}

std::size_t node_kernel::running() const {
    std::size_t count = 0;
    for (auto& group : groups_)
        if (group->running)
            ++count;
    return count;
}

pid_t node_kernel::pid_of(group_id group) const {
    return group < groups_.size() ? groups_[group]->pid : -1;
}

unsigned node_kernel::restarts_of(group_id group) const {
    return group < groups_.size() ? groups_[group]->restarts : 0;
}

int node_kernel::last_wait_status_of(group_id group) const {
    return group < groups_.size() ? groups_[group]->last_status : -1;
}

}  // namespace amb::hosted::node
