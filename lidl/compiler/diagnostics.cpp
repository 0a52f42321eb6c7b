#include "diagnostics.hpp"

#include <algorithm>
#include <string>

namespace lidl::compiler {
namespace {

// Length of the valid UTF-8 sequence starting at text[i], or 0 if the bytes there are not one.
// Quoted lines keep valid sequences and replace the rest, so garbage input cannot send terminal
// escape sequences or break the caret alignment.
std::size_t utf8_sequence_length(std::string_view text, std::size_t i) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    if (lead >= 0xC2 && lead <= 0xDF)
        length = 2;
    else if (lead >= 0xE0 && lead <= 0xEF)
        length = 3;
    else if (lead >= 0xF0 && lead <= 0xF4)
        length = 4;
    else
        return 0;
    if (i + length > text.size())
        return 0;
    for (std::size_t k = 1; k < length; ++k) {
        const auto byte = static_cast<unsigned char>(text[i + k]);
        if ((byte & 0xC0) != 0x80)
            return 0;
    }
    return length;
}

}  // namespace

std::size_t edit_distance(std::string_view a, std::string_view b, std::size_t limit) {
    const std::size_t difference = a.size() > b.size() ? a.size() - b.size() : b.size() - a.size();
    if (difference > limit)
        return limit + 1;
    // Optimal string alignment distance over three rolling rows.
    std::vector<std::size_t> before(b.size() + 1), previous(b.size() + 1), current(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j)
        previous[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        current[0] = i;
        std::size_t row_minimum = current[0];
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            current[j] = std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                current[j] = std::min(current[j], before[j - 2] + 1);
            row_minimum = std::min(row_minimum, current[j]);
        }
        if (row_minimum > limit)
            return limit + 1;
        std::swap(before, previous);
        std::swap(previous, current);
    }
    return std::min(previous[b.size()], limit + 1);
}

std::string_view closest_match(std::string_view word,
                               const std::vector<std::string_view>& candidates) {
    constexpr std::size_t max_edits = 2;
    std::string_view best;
    std::size_t best_distance = max_edits + 1;
    for (const std::string_view candidate : candidates) {
        if (candidate == word)
            continue;
        const std::size_t distance = edit_distance(word, candidate, max_edits);
        if (distance < best_distance && distance < word.size()) {
            best = candidate;
            best_distance = distance;
        }
    }
    return best;
}

std::string_view diagnostics::add_source(const std::string& file, std::string text) {
    auto [it, inserted] = sources_.try_emplace(file);
    if (inserted) {
        it->second.order = sources_.size();
        it->second.text = std::move(text);
    }
    return it->second.text;
}

void diagnostics::error(const source_location& loc, std::string_view message,
                        std::size_t length) {
    ++error_count_;
    pending_error pending;
    const auto it = sources_.find(loc.file);
    pending.file_order = it == sources_.end() ? sources_.size() + 1 : it->second.order;
    pending.error = message_part{loc, std::string(message), length};
    pending_.push_back(std::move(pending));
}

void diagnostics::note(const source_location& loc, std::string_view message,
                       std::size_t length) {
    if (!pending_.empty())
        pending_.back().notes.push_back(message_part{loc, std::string(message), length});
}

void diagnostics::error(std::string_view message) {
    ++error_count_;
    pending_error pending;
    pending.error.message = std::string(message);
    pending_.push_back(std::move(pending));
}

void diagnostics::flush() {
    std::stable_sort(pending_.begin(), pending_.end(),
                     [](const pending_error& a, const pending_error& b) {
                         if (a.file_order != b.file_order)
                             return a.file_order < b.file_order;
                         if (a.error.loc.line != b.error.loc.line)
                             return a.error.loc.line < b.error.loc.line;
                         return a.error.loc.column < b.error.loc.column;
                     });
    for (const pending_error& pending : pending_) {
        if (printed_ == max_errors) {
            out_ << "lidlc: too many errors; the remaining ones are not shown\n";
            ++printed_;
        }
        if (printed_ > max_errors)
            break;
        ++printed_;
        print(pending.error, "error");
        for (const message_part& note : pending.notes)
            print(note, "note");
    }
    pending_.clear();
    out_.flush();
}

void diagnostics::print(const message_part& part, std::string_view severity) {
    if (part.loc.line == 0) {
        out_ << "lidlc: " << severity << ": " << part.message << '\n';
        return;
    }
    out_ << part.loc.file << ':' << part.loc.line << ':' << part.loc.column << ": " << severity
         << ": " << part.message << '\n';
    quote(part.loc, part.length);
}

void diagnostics::quote(const source_location& loc, std::size_t length) {
    auto it = sources_.find(loc.file);
    if (it == sources_.end() || loc.line < 1 || loc.column < 1)
        return;
    source_file& source = it->second;
    if (source.line_starts.empty()) {
        source.line_starts.push_back(0);
        for (std::size_t i = 0; i < source.text.size(); ++i)
            if (source.text[i] == '\n')
                source.line_starts.push_back(i + 1);
    }
    const auto line_index = static_cast<std::size_t>(loc.line - 1);
    if (line_index >= source.line_starts.size())
        return;
    const std::string_view text = source.text;
    const std::size_t begin = source.line_starts[line_index];
    std::size_t end = text.find('\n', begin);
    if (end == std::string_view::npos)
        end = text.size();
    if (end > begin && text[end - 1] == '\r')
        --end;
    std::string_view line = text.substr(begin, end - begin);
    std::size_t caret_begin = static_cast<std::size_t>(loc.column - 1);

    // A very long line (minified or garbage input) is shown as a window around the location.
    constexpr std::size_t window = 160;
    std::string_view prefix;
    std::string_view suffix;
    if (line.size() > window) {
        std::size_t first = caret_begin > window / 2 ? caret_begin - window / 2 : 0;
        first = std::min(first, line.size() - window);
        while (first > 0 && (static_cast<unsigned char>(line[first]) & 0xC0) == 0x80)
            --first;  // do not cut a UTF-8 sequence
        std::size_t last = std::min(line.size(), first + window);
        while (last < line.size() && (static_cast<unsigned char>(line[last]) & 0xC0) == 0x80)
            ++last;
        prefix = first > 0 ? "..." : "";
        suffix = last < line.size() ? "..." : "";
        line = line.substr(first, last - first);
        caret_begin -= std::min(caret_begin, first);
    }

    // The caret line mirrors the quoted line character by character (tabs stay tabs) so the
    // caret lands under the right character whatever the terminal's tab width.
    const std::size_t caret_end = caret_begin + std::max<std::size_t>(length, 1);
    std::string shown(prefix);
    std::string marks(prefix.size(), ' ');
    bool caret_placed = false;
    for (std::size_t i = 0; i < line.size();) {
        std::size_t step = 1;
        char shown_char = line[i];
        const auto byte = static_cast<unsigned char>(line[i]);
        if (byte >= 0x80) {
            step = utf8_sequence_length(line, i);
            if (step == 0) {
                step = 1;
                shown_char = '?';
            }
        } else if ((byte < 0x20 && byte != '\t') || byte == 0x7F) {
            shown_char = '?';
        }
        if (step > 1)
            shown.append(line.substr(i, step));
        else
            shown.push_back(shown_char);

        char mark = shown_char == '\t' ? '\t' : ' ';
        if (i >= caret_begin && i < caret_end) {
            mark = caret_placed ? '~' : '^';
            caret_placed = true;
        }
        marks.push_back(mark);
        i += step;
    }
    if (!caret_placed)  // the location is at or past the end of the line
        marks.push_back('^');
    shown += suffix;
    while (!marks.empty() && marks.back() == ' ')
        marks.pop_back();

    const std::string number = std::to_string(loc.line);
    const std::size_t width = std::max<std::size_t>(5, number.size() + 1);
    out_ << std::string(width - number.size(), ' ') << number << " | " << shown << '\n'
         << std::string(width, ' ') << " | " << marks << '\n';
}

}  // namespace lidl::compiler
