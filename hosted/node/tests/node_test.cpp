// Shared memory regions and heaps of the hosted node, and the node kernel's handling of a group
// that will not stop (real processes).
#include <hosted/node/channel.hpp>
#include <hosted/node/node_kernel.hpp>
#include <hosted/node/shared_heap.hpp>
#include <hosted/node/shared_region.hpp>

#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using namespace amb::hosted::node;
using namespace std::chrono_literals;

bool fd_closed(int fd) { return ::fcntl(fd, F_GETFD) < 0 && errno == EBADF; }

}  // namespace

TEST(shared_region, maps_the_same_bytes_twice) {
    auto first = shared_region::create(4096);
    ASSERT_TRUE(first.has_value());
    std::memcpy(first->bytes().data(), "ring", 4);
    auto second = shared_region::map(unique_fd(::dup(first->fd())), 4096);
    ASSERT_TRUE(second.has_value());
    EXPECT_NE(first->bytes().data(), second->bytes().data());
    EXPECT_EQ(std::memcmp(second->bytes().data(), "ring", 4), 0);
    EXPECT_TRUE(first->share_with_child().has_value());
    EXPECT_EQ(::fcntl(first->fd(), F_GETFD) & FD_CLOEXEC, 0);
}

TEST(shared_region, rejects_bad_sizes) {
    auto empty = shared_region::create(0);
    ASSERT_FALSE(empty.has_value());
    EXPECT_EQ(empty.error(), EINVAL);
    auto region = shared_region::create(4096);
    ASSERT_TRUE(region.has_value());
    // A peer's file smaller than expected is never mapped past its end.
    auto larger = shared_region::map(unique_fd(::dup(region->fd())), 8192);
    ASSERT_FALSE(larger.has_value());
    EXPECT_EQ(larger.error(), EINVAL);
    int fd = region->fd();
    region->reset();
    EXPECT_TRUE(fd_closed(fd));
}

TEST(shared_region, a_read_only_descriptor_can_never_be_mapped_writable) {
    auto region = shared_region::create(4096);
    ASSERT_TRUE(region.has_value());
    auto readonly = region->open_readonly();
    ASSERT_TRUE(readonly.has_value());
    EXPECT_EQ(::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, readonly->get(), 0),
              MAP_FAILED);
    EXPECT_EQ(errno, EACCES);
    auto view = shared_region::map_readonly(std::move(*readonly), 4096);
    ASSERT_TRUE(view.has_value());
    std::memcpy(region->bytes().data(), "seen", 4);
    EXPECT_EQ(std::memcmp(view->bytes().data(), "seen", 4), 0);
    EXPECT_NE(::mprotect(view->bytes().data(), 4096, PROT_READ | PROT_WRITE), 0);
    EXPECT_EQ(errno, EACCES);
    // The view holds no descriptor that /proc/self/fd could reopen read-write.
    EXPECT_EQ(view->fd(), -1);
}

TEST(shared_heap, allocates_aligned_blocks_and_reuses_freed_ones) {
    auto heap = shared_heap::create(1 << 20);
    ASSERT_TRUE(heap.has_value());
    auto small = heap->allocate(10);
    auto page = heap->allocate(5000);
    ASSERT_EQ(small.size(), 10u);
    ASSERT_EQ(page.size(), 5000u);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(small.data()) % 64, 0u);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(page.data()) % 4096, 0u);
    std::uint64_t offset = 0;
    EXPECT_TRUE(heap->view().contains(page.data(), page.size(), offset));
    heap->free(page);
    EXPECT_EQ(heap->allocate(6000).data(), page.data());  // same size class
    EXPECT_TRUE(heap->allocate(2 << 20).empty());          // larger than the heap
    EXPECT_TRUE(heap->allocate(0).empty());
    std::size_t blocks = 0;
    // At most 16 blocks of 64 KiB fit in 1 MiB: the bound turns a heap that never refuses into
    // a failure instead of a hang.
    while (blocks <= 16 && !heap->allocate(64 << 10).empty())
        ++blocks;
    EXPECT_GT(blocks, 10u);  // fills up, then refuses
    EXPECT_LE(blocks, 16u);
}

TEST(node_kernel, stop_kills_a_group_that_ignores_sigterm) {
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    node_kernel kernel(200ms);
    group_id stubborn = kernel.add_group({"stubborn", [&](group_context&) {
                                              ::signal(SIGTERM, SIG_IGN);
                                              char byte = 1;
                                              if (::write(ready[1], &byte, 1) != 1)
                                                  return 1;
                                              for (;;)
                                                  ::pause();
                                              return 0;
                                          }});
    ASSERT_TRUE(kernel.start());
    const pid_t pid = kernel.pid_of(stubborn);
    ASSERT_GT(pid, 0);
    // The group says when it ignores SIGTERM (a read, not a sleep). A safety net against a group
    // that never starts: poll's bound is a failure, not a timing assertion.
    pollfd started{ready[0], POLLIN, 0};
    ASSERT_EQ(::poll(&started, 1, 30000), 1) << "the group never reported that it started";
    char byte = 0;
    ASSERT_EQ(::read(ready[0], &byte, 1), 1);
    ::close(ready[0]);
    ::close(ready[1]);

    kernel.stop();  // SIGTERM, ignored; SIGKILL after 200 ms
    const int status = kernel.last_wait_status_of(stubborn);
    ASSERT_TRUE(WIFSIGNALED(status)) << "wait status " << status;
    EXPECT_EQ(WTERMSIG(status), SIGKILL) << "killed by signal " << WTERMSIG(status);
    EXPECT_EQ(kernel.running(), 0u);
    errno = 0;
    EXPECT_EQ(::kill(pid, 0), -1);  // reaped by the kernel
    EXPECT_EQ(errno, ESRCH);
}
