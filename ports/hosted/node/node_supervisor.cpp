#include <hosted/node/node_supervisor.hpp>

#include <cerrno>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

namespace amb::hosted::node {

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

// Rounds up to whole pages, so that the mapping covers exactly the memfd.
std::size_t page_rounded(std::size_t size) {
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    return (size + page - 1) / page * page;
}

}  // namespace

bool group_process::exited() const {
    if (reaped_)
        return true;
    return pidfd_ && readable(pidfd_.get(), 0);
}

void group_process::close_after_fork() noexcept {
    region_.reset();
    pidfd_.reset();
    request_event_.reset();
    reply_event_.reset();
    reaped_ = true;  // not ours to signal or reap in a child
}

node_supervisor::~node_supervisor() {
    stop();
    if (signals_) {
        signals_.reset();
        ::pthread_sigmask(SIG_SETMASK, &saved_mask_, nullptr);
    }
}

result<group_process*, int> node_supervisor::prepare_group(const rings::config& ring) {
    auto size = rings::region_size(ring);
    if (!size)
        return failure{EINVAL};
    auto group = std::make_unique<group_process>();
    group->region_size_ = page_rounded(*size);
    auto region = shared_region::create(group->region_size_);
    if (!region)
        return failure{region.error()};
    group->region_ = std::move(*region);
    if (!rings::ring_region::init(group->region_.bytes(), ring))
        return failure{EINVAL};
    group->request_event_ = unique_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    group->reply_event_ = unique_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!group->request_event_ || !group->reply_event_)
        return failure{errno};
    groups_.push_back(std::move(group));
    return groups_.back().get();
}

result<bool, int> node_supervisor::fork_group(group_process& group) {
    pid_t pid = ::fork();
    if (pid < 0)
        return failure{errno};
    if (pid == 0)
        return false;
    group.pid_ = pid;
    auto pidfd = open_pidfd(pid);
    if (!pidfd) {
        // Without a pidfd we cannot watch the group: do not leave it running.
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &group.wait_status_, 0);
        group.reaped_ = true;
        group.close_after_fork();
        return failure{pidfd.error()};
    }
    group.pidfd_ = std::move(*pidfd);
    return true;
}

result<node_supervisor::child_side, int> node_supervisor::enter_child(group_process& group) {
    // Die with the supervisor, and do not miss its death between fork and prctl.
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || ::getppid() != supervisor_pid_)
        ::_exit(126);
    // The default dispositions and an empty mask: the supervisor's SIGTERM must end the group.
    sigset_t none;
    sigemptyset(&none);
    ::pthread_sigmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGTERM, SIG_DFL);
    ::signal(SIGINT, SIG_DFL);
    signals_.reset();
    // Isolation: nothing of the other groups stays reachable.
    for (auto& other : groups_)
        if (other.get() != &group)
            other->close_after_fork();

    // Map the region again from the descriptor number, as a group started by exec would, and
    // drop the mapping inherited through fork.
    const int memfd = ::dup(group.region_.fd());
    if (memfd < 0)
        return failure{errno};
    const std::size_t size = group.region_size_;
    auto inherited_request = group.request_event_.release();
    auto inherited_reply = group.reply_event_.release();
    group.close_after_fork();
    auto region = shared_region::map(unique_fd(memfd), size);
    if (!region)
        return failure{region.error()};
    // Descriptors a future exec'd group would need to keep.
    for (int fd : {memfd, inherited_request, inherited_reply})
        if (auto kept = keep_across_exec(fd); !kept)
            return failure{kept.error()};
    message_link link{region->bytes(), inherited_request, inherited_reply, -1};
    return child_side{std::move(*region), link};
}

result<void, int> node_supervisor::watch_stop_signals() {
    if (signals_)
        return {};
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    if (int failed = ::pthread_sigmask(SIG_BLOCK, &stop_signals, &saved_mask_); failed != 0)
        return failure{failed};
    signals_ = unique_fd(::signalfd(-1, &stop_signals, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signals_) {
        int error = errno;
        ::pthread_sigmask(SIG_SETMASK, &saved_mask_, nullptr);
        return failure{error};
    }
    return {};
}

result<node_supervisor::wake_reason, int> node_supervisor::wait(std::chrono::milliseconds timeout) {
    std::vector<pollfd> watched;
    if (signals_)
        watched.push_back({signals_.get(), POLLIN, 0});
    for (auto& group : groups_)
        if (!group->reaped_ && group->pidfd_)
            watched.push_back({group->pidfd_.get(), POLLIN, 0});
    for (;;) {
        int ready = ::poll(watched.data(), watched.size(), static_cast<int>(timeout.count()));
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready < 0)
            return failure{errno};
        if (ready == 0)
            return wake_reason::timed_out;
        if (signals_ && watched[0].revents != 0) {
            signalfd_siginfo received{};
            while (::read(signals_.get(), &received, sizeof received) > 0) {
            }
            return wake_reason::stop_signal;
        }
        return wake_reason::group_exited;
    }
}

void node_supervisor::stop(group_process& group) {
    if (!group.reaped_ && group.pid_ > 0) {
        // The pid cannot be reused before we reap it, so kill() is safe here.
        ::kill(group.pid_, SIGTERM);
        if (!readable(group.pidfd_.get(), static_cast<int>(stop_timeout_.count())))
            ::kill(group.pid_, SIGKILL);
        while (::waitpid(group.pid_, &group.wait_status_, 0) < 0 && errno == EINTR) {
        }
        group.reaped_ = true;
    }
    group.region_.reset();
    group.pidfd_.reset();
    group.request_event_.reset();
    group.reply_event_.reset();
}

void node_supervisor::stop() {
    for (auto& group : groups_)
        stop(*group);
}

std::size_t node_supervisor::running() const {
    std::size_t count = 0;
    for (auto& group : groups_)
        if (!group->reaped_)
            ++count;
    return count;
}

}  // namespace amb::hosted::node
