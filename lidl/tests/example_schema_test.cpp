// The issue's example schema (tests/lidl/schemas/camera.lidl, importing common.lidl) compiles
// with lidlc and its generated code builds with -Werror and works: a camera served over the
// direct backend and over messages, and a frame handler receiving views.
#include "camera.lidl.hpp"
#include "camera.lidl.json.hpp"
#include "loopback_backend.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using namespace demo::camera;

class camera_service final : public camera {
public:
    std::uint32_t exposure = 100;
    int resets = 0;

    lidl::completion<const frame*> capture(const resolution& res,
                                           lidl::builder& response) override {
        frame* f = response.create_root<frame>();
        if (f == nullptr)
            co_return nullptr;
        f->res = res;
        f->format = pixel_format::grayscale;
        std::vector<std::uint8_t> pixels(static_cast<std::size_t>(res.width) * res.height, 7);
        response.set(f->pixels, std::span<const std::uint8_t>(pixels));
        response.set(f->label, "shot-1");
        response.set_strings(f->tags, std::vector<std::string>{"night", "deer"});
        response.set(f->exposure, exposure);
        f->taken_at = demo::common::timestamp{1767225600, 5};
        co_return f;
    }
    lidl::completion<bool> set_exposure(std::uint32_t micros) override {
        exposure = micros;
        co_return micros > 0;
    }
    lidl::completion<std::string_view> describe(lidl::builder& response) override {
        co_return response.copy("camera, exposure " + std::to_string(exposure) + " us");
    }
    lidl::completion<void> reset() override {
        ++resets;
        co_return {};
    }
    lidl::completion<void> stop() override { co_return {}; }
};

class handler_service final : public frame_handler {
public:
    std::size_t bytes = 0;
    std::string last_label;
    lidl::completion<bool> handle(std::span<const std::uint8_t> pixels, const resolution& res,
                                  std::string_view label) override {
        bytes = pixels.size();
        last_label = label;
        co_return pixels.size() == static_cast<std::size_t>(res.width) * res.height;
    }
};

void exercise(camera& api) {
    lidl_test::aligned_buffer buffer(1 << 16);
    lidl::builder response(buffer.bytes());
    const frame* f = amb::sync_wait(api.capture(resolution{4, 3}, response)).value();
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->pixels.size(), 12u);
    EXPECT_EQ(f->label.view(), "shot-1");
    EXPECT_EQ(f->tags[1].view(), "deer");
    EXPECT_EQ(f->exposure.value_or(0), 100u);
    EXPECT_EQ(f->taken_at.nanos, 5u);
    EXPECT_TRUE(amb::sync_wait(api.set_exposure(250)).value());
    response.reset();
    EXPECT_EQ(amb::sync_wait(api.describe(response)).value(), "camera, exposure 250 us");
    EXPECT_TRUE(amb::sync_wait(api.reset()));
    EXPECT_TRUE(amb::sync_wait(api.stop()));
}

TEST(example_schema, camera_direct_and_over_messages) {
    camera_service direct;
    camera_client<lidl::direct_backend<camera>> client(direct);
    exercise(client);
    EXPECT_EQ(direct.resets, 1);

    camera_service remote;
    camera_client<lidl_test::loopback_backend<camera>> networked(remote);
    exercise(networked);
    EXPECT_EQ(remote.resets, 1);
    EXPECT_EQ(remote.exposure, 250u);
}

TEST(example_schema, frame_handler_gets_views_of_the_callers_data) {
    handler_service handler;
    frame_handler_client<lidl::direct_backend<frame_handler>> client(handler);
    std::vector<std::uint8_t> pixels(640 * 480, 1);
    EXPECT_TRUE(amb::sync_wait(client.handle(pixels, resolution{640, 480}, "full frame")).value());
    EXPECT_EQ(handler.bytes, pixels.size());
    EXPECT_EQ(handler.last_label, "full frame");

    frame_handler_client<lidl_test::loopback_backend<frame_handler>> remote(handler);
    std::vector<std::uint8_t> small(120, 2);
    EXPECT_FALSE(amb::sync_wait(remote.handle(small, resolution{10, 10}, "wrong size")).value());
    EXPECT_EQ(handler.bytes, 120u);
    EXPECT_EQ(handler.last_label, "wrong size");
}

TEST(example_schema, frame_json) {
    lidl_test::aligned_buffer buffer(4096);
    lidl::builder out(buffer.bytes());
    auto built = lidl::json::build<frame>(
        R"({"res": {"width": 2, "height": 1}, "format": "rgb565", "pixels": [1, 2],
            "label": "x", "tags": [], "exposure": null,
            "taken_at": {"seconds": 1, "nanos": 2}})",
        out);
    ASSERT_TRUE(built) << built.error().path << ": " << built.error().message;
    auto message = lidl::verify<frame>(built.value());
    ASSERT_TRUE(message);
    EXPECT_EQ(lidl::json::to_json(*message.value())["format"], "rgb565");
    EXPECT_EQ(message.value()->taken_at.nanos, 2u);
}

}  // namespace
