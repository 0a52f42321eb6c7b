// The incident log is read by people and by tools (one JSON object per line), and what it
// records comes from packets: a peer that names itself with a quote, a newline or bytes that are
// not UTF-8 must neither forge a second line nor make the log unparseable (issue 12, hole 6).
#include <hosted/remote/network_node.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <string>

namespace {

namespace ar = amb::remote;

std::string contents(std::FILE* file) {
    std::rewind(file);
    std::string text;
    char chunk[512];
    while (std::size_t got = std::fread(chunk, 1, sizeof chunk, file))
        text.append(chunk, got);
    return text;
}

TEST(incident_log, hostile_names_stay_inside_one_well_formed_line) {
    std::FILE* file = std::tmpfile();
    ASSERT_NE(file, nullptr);
    amb::hosted::remote::incident_log log("gateway", file);
    const std::string source = "field\"}\n{\"node\":\"cloud\",\"incident\":\"forged\x1b[2J\xff\xfe";
    const std::string service = "sensor\\\x01";
    ar::incident what{};
    what.kind = ar::incident_kind::request_denied;
    what.link = 3;
    what.source = source;
    what.service = service;
    what.token.what = caplets::check::bad_tag;
    log.report(what);
    const std::string text = contents(file);
    std::fclose(file);

    ASSERT_FALSE(text.empty());
    EXPECT_EQ(text.find('\n'), text.size() - 1) << text; // exactly one line
    for (char c : text.substr(0, text.size() - 1))
        EXPECT_GE(static_cast<unsigned char>(c), 0x20) << text; // no raw control byte
    auto line = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(line.is_discarded()) << text;
    EXPECT_EQ(line["node"], "gateway");
    EXPECT_EQ(line["link"], 3);
    EXPECT_EQ(line["check"], caplets::describe(caplets::check::bad_tag));
    // The printable part of the names survives as data, never as structure.
    const std::string logged = line["source"];
    EXPECT_EQ(logged.rfind("field\"}\n{\"node\":\"cloud\"", 0), 0u) << logged;
    EXPECT_EQ(line["service"], "sensor\\\x01");
}

} // namespace
