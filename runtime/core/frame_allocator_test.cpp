// Frame allocator hook of amb::task (async/task.hpp): a static pool for microcontrollers,
// clean failure when it is empty, and frames returned to the allocator that served them.
#include <async/task.hpp>

#include <gtest/gtest.h>

#include <cstddef>
#include <new>

namespace amb {
namespace {

// Not inlined: clang may otherwise elide the allocation of a frame whose lifetime it can see
// (HALO), and these tests are about allocation.
[[gnu::noinline]] task<int> small(int value) { co_return value; }

[[gnu::noinline]] task<int> nested(int value) { co_return 1 + co_await small(value); }

[[gnu::noinline]] task<int> large() {
    volatile unsigned char buffer[4096] = {};
    co_await small(0);  // keeps buffer alive across a suspension point, so it is in the frame
    co_return buffer[0] + 3;
}

// Counts calls and forwards to the heap: shows which allocator served which frame.
class counting_allocator final : public frame_allocator {
public:
    void* allocate(std::size_t size) noexcept override {
        ++allocated;
        return ::operator new(size, std::nothrow);
    }
    void release(void* frame, std::size_t) noexcept override {
        ++released;
        ::operator delete(frame);
    }
    int allocated = 0;
    int released = 0;
};

TEST(frame_allocator, static_pool_serves_frames_without_the_heap) {
    static_frame_allocator<256, 4> pool;
    scoped_frame_allocator installed(pool);
    EXPECT_EQ(pool.available(), 4u);
    {
        task<int> work = nested(41);
        ASSERT_TRUE(work.valid());
        EXPECT_EQ(pool.available(), 3u);
        EXPECT_EQ(sync_wait(std::move(work)), 42);
    }
    EXPECT_EQ(pool.available(), 4u);
}

TEST(frame_allocator, empty_pool_gives_an_empty_task) {
    static_frame_allocator<256, 2> pool;
    scoped_frame_allocator installed(pool);
    task<int> first = small(1);
    task<int> second = small(2);
    task<int> third = small(3);
    EXPECT_TRUE(first.valid());
    EXPECT_TRUE(second.valid());
    EXPECT_FALSE(third.valid());
    EXPECT_EQ(pool.available(), 0u);
    // Freeing a block makes the next call succeed again.
    first = task<int>();
    task<int> fourth = small(4);
    ASSERT_TRUE(fourth.valid());
    EXPECT_EQ(sync_wait(std::move(fourth)), 4);
}

TEST(frame_allocator, frame_larger_than_a_block_gives_an_empty_task) {
    static_frame_allocator<512, 4> pool;
    scoped_frame_allocator installed(pool);
    task<int> work = large();
    EXPECT_FALSE(work.valid());
    EXPECT_EQ(pool.available(), 4u);
}

TEST(frame_allocator, frame_goes_back_to_the_allocator_that_served_it) {
    counting_allocator counting;
    task<int> work;
    {
        scoped_frame_allocator installed(counting);
        work = small(5);
    }
    // The default pool is installed again, but the frame still belongs to `counting`.
    EXPECT_EQ(counting.allocated, 1);
    EXPECT_EQ(sync_wait(std::move(work)), 5);
    EXPECT_EQ(counting.released, 1);
}

TEST(frame_allocator, installing_returns_the_previous_allocator) {
    counting_allocator counting;
    EXPECT_EQ(install_frame_allocator(&counting), nullptr);
    EXPECT_EQ(sync_wait(small(6)), 6);
    EXPECT_EQ(install_frame_allocator(nullptr), &counting);
    EXPECT_EQ(counting.allocated, 1);
    EXPECT_EQ(counting.released, 1);
}

}  // namespace
}  // namespace amb
