#include "test_messages.hpp"

#include <array>
#include <string_view>
#include <vector>

namespace lidl_test {

everything* build_everything(lidl::builder& out) {
    everything* e = out.create_root<everything>();
    if (e == nullptr)
        return nullptr;
    e->s.b = true;
    e->s.i8v = -8;
    e->s.i16v = -1600;
    e->s.i32v = -320000;
    e->s.i64v = -6400000000LL;
    e->s.u8v = 200;
    e->s.u16v = 60000;
    e->s.u32v = 4000000000U;
    e->s.u64v = 18000000000000000000ULL;
    e->s.f32v = 1.5F;
    e->s.f64v = -2.25;
    e->s.c = color::blue;
    e->s.l = level::low;
    bool ok = out.set(e->text, "hello, lidl");
    std::vector<std::uint8_t> blob(100);
    for (std::size_t i = 0; i < blob.size(); ++i)
        blob[i] = static_cast<std::uint8_t>(i * 3);
    ok = ok && out.set(e->blob, std::span<const std::uint8_t>(blob));
    ok = ok && out.set_strings(e->words, std::array<std::string_view, 3>{"alpha", "beta", ""});
    lidl::vector<lidl::string>* rows = out.create_vector(e->matrix, 2);
    ok = ok && rows != nullptr &&
         out.set_strings(rows[0], std::array<std::string_view, 2>{"r0c0", "r0c1"});
    out.set(e->maybe_number, std::uint64_t{42});
    ok = ok && out.set(*out.emplace(e->maybe_text), "maybe");
    out.set(e->maybe_point, point{-1, 2});

    shape* shapes = out.create_vector(e->shapes, 5);
    ok = ok && shapes != nullptr;
    if (ok) {
        point* circle = shapes[0].set_circle(out);
        ok = circle != nullptr;
        if (ok)
            *circle = point{3, 4};
        lidl::string* label = shapes[1].set_label(out);
        ok = ok && label != nullptr && out.set(*label, "a label");
        lidl::vector<point>* polygon = shapes[2].set_polygon(out);
        const std::array<point, 3> corners{point{0, 0}, point{5, 0}, point{0, 5}};
        ok = ok && polygon != nullptr && out.set(*polygon, std::span<const point>(corners));
        node* tree = shapes[3].set_tree(out);
        ok = ok && tree != nullptr && out.set(tree->name, "shape tree");
        std::uint32_t* count = shapes[4].set_count(out);
        ok = ok && count != nullptr;
        if (ok)
            *count = 99;
    }
    point* main = e->main_shape.set_circle(out);
    ok = ok && main != nullptr;
    if (ok)
        *main = point{7, 8};

    e->arrays.points = {point{1, 1}, point{2, 2}, point{3, 3}};
    e->arrays.bytes = {1, 2, 3, 4, 5};
    ok = ok && out.set(e->arrays.names[0], "first") && out.set(e->arrays.names[1], "second");

    ok = ok && out.set(e->tree.name, "root");
    node* children = out.create_vector(e->tree.children, 2);
    ok = ok && children != nullptr && out.set(children[0].name, "left") &&
         out.set(children[1].name, "right");
    node* grandchild = ok ? out.create_vector(children[1].children, 1) : nullptr;
    ok = ok && grandchild != nullptr && out.set(grandchild->name, "leaf");

    const std::array<bool, 3> flags{true, false, true};
    ok = ok && out.set(e->flags, std::span<const bool>(flags));
    const std::array<color, 2> colors{color::green, color::red};
    ok = ok && out.set(e->colors, std::span<const color>(colors));
    const std::array<std::uint64_t, 2> wide{1, 1ULL << 63};
    ok = ok && out.set(e->wide, std::span<const std::uint64_t>(wide));
    return ok && !out.failed() ? e : nullptr;
}

const char* check_everything(const everything& e) {
    if (!(e.s.b && e.s.i8v == -8 && e.s.i16v == -1600 && e.s.i32v == -320000 &&
          e.s.i64v == -6400000000LL && e.s.u8v == 200 && e.s.u16v == 60000 &&
          e.s.u32v == 4000000000U && e.s.u64v == 18000000000000000000ULL && e.s.f32v == 1.5F &&
          e.s.f64v == -2.25 && e.s.c == color::blue && e.s.l == level::low))
        return "s";
    if (e.text.view() != "hello, lidl")
        return "text";
    if (e.blob.size() != 100 || e.blob[99] != static_cast<std::uint8_t>(99 * 3))
        return "blob";
    if (e.words.size() != 3 || e.words[0].view() != "alpha" || e.words[1].view() != "beta" ||
        !e.words[2].empty())
        return "words";
    if (e.matrix.size() != 2 || e.matrix[0].size() != 2 || e.matrix[0][1].view() != "r0c1" ||
        !e.matrix[1].empty())
        return "matrix";
    if (!e.maybe_number || *e.maybe_number != 42)
        return "maybe_number";
    if (!e.maybe_text || e.maybe_text->view() != "maybe")
        return "maybe_text";
    if (!e.maybe_point || e.maybe_point->x != -1 || e.maybe_point->y != 2)
        return "maybe_point";
    if (e.shapes.size() != 5)
        return "shapes";
    const point* circle = e.shapes[0].circle();
    if (circle == nullptr || circle->x != 3 || e.shapes[0].label() != nullptr)
        return "shapes[0]";
    if (e.shapes[1].label() == nullptr || e.shapes[1].label()->view() != "a label")
        return "shapes[1]";
    if (e.shapes[2].polygon() == nullptr || e.shapes[2].polygon()->size() != 3 ||
        (*e.shapes[2].polygon())[2].y != 5)
        return "shapes[2]";
    if (e.shapes[3].tree() == nullptr || e.shapes[3].tree()->name.view() != "shape tree")
        return "shapes[3]";
    if (e.shapes[4].count() == nullptr || *e.shapes[4].count() != 99 ||
        e.shapes[4].which() != shape::alternative::count)
        return "shapes[4]";
    if (e.main_shape.circle() == nullptr || e.main_shape.circle()->y != 8)
        return "main_shape";
    if (e.arrays.points[2].x != 3 || e.arrays.bytes[4] != 5 ||
        e.arrays.names[1].view() != "second")
        return "arrays";
    if (e.tree.name.view() != "root" || e.tree.children.size() != 2 ||
        e.tree.children[1].children.size() != 1 ||
        e.tree.children[1].children[0].name.view() != "leaf")
        return "tree";
    if (e.flags.size() != 3 || !e.flags[0] || e.flags[1] || !e.flags[2])
        return "flags";
    if (e.colors.size() != 2 || e.colors[0] != color::green)
        return "colors";
    if (e.wide.size() != 2 || e.wide[1] != (1ULL << 63))
        return "wide";
    return nullptr;
}

node* build_chain(lidl::builder& out, int depth) {
    node* root = out.create_root<node>();
    node* current = root;
    for (int i = 1; current != nullptr && i < depth; ++i) {
        if (!out.set(current->name, "link"))
            return nullptr;
        current = out.create_vector(current->children, 1);
    }
    return out.failed() ? nullptr : root;
}

}  // namespace lidl_test
