// --help, generated from the option table: each option with its value
// name, its help text and its default, read back from struct Options.
#include <algorithm>
#include <ostream>
#include <sstream>
#include <string>

#include "config/option_table.h"
#include "util/strings.h"

namespace usbd::options_internal {
namespace {

std::string OptionLabel(const OptionSpec& spec) {
  std::string label = "  ";
  if (spec.short_name != nullptr)
    label += "-" + std::string(spec.short_name) + ", ";
  label += "--" + std::string(spec.name);
  if (spec.value_name != nullptr) {
    label += spec.kind == Kind::kLevel
                 ? "[=" + std::string(spec.value_name) + "]"
                 : "=" + std::string(spec.value_name);
  }
  return label;
}

std::string DefaultText(const OptionSpec& spec, const Options& defaults) {
  if (spec.default_text != nullptr) {
    return spec.default_text[0] == '\0'
               ? ""
               : "default: " + std::string(spec.default_text);
  }
  std::string text;
  std::visit(
      [&](auto member) {
        if constexpr (!std::is_same_v<decltype(member), std::monostate>) {
          const auto& v = defaults.*member;
          using T = std::remove_cvref_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string>) {
            text = v;
          } else if constexpr (std::is_same_v<T, SecretString>) {
            // A secret has no default to show.
          } else if constexpr (!std::is_same_v<T, bool>) {
            text = spec.kind == Kind::kUint ? std::to_string(v) : FormatSize(v);
          }
        }
      },
      spec.field);
  return text.empty() ? "" : "default: " + text;
}

// Appends `words` to `line` (already `indent` wide), wrapping at 79 columns.
void Wrap(const std::string& words, size_t indent, std::string* line) {
  std::istringstream in(words);
  std::string word;
  size_t column = indent;
  while (in >> word) {
    if (column > indent && column + 1 + word.size() > 79) {
      *line += "\n" + std::string(indent, ' ');
      column = indent;
    }
    if (column > indent) {
      *line += ' ';
      ++column;
    }
    *line += word;
    column += word.size();
  }
}

}  // namespace

void PrintHelp(std::ostream& out) {
  Options defaults;
  defaults.listen = DefaultListenAddress();
  size_t width = 0;
  for (const OptionSpec& spec : AllOptions()) {
    width = std::max(width, OptionLabel(spec).size());
  }
  width += 2;
  std::string text = std::string("Usage: ") + kUsage + "\n" +
                     "Serve a block device over NBD, stored as one object per "
                     "block\nin S3 (the default), on an HTTP server, in a "
                     "directory or in memory.\n";
  std::string group;
  for (const OptionSpec& spec : AllOptions()) {
    if (group != spec.group) {
      group = spec.group;
      text += "\n" + group + ":\n";
    }
    std::string line = OptionLabel(spec);
    line.resize(width, ' ');
    std::string help = spec.help;
    std::string def = DefaultText(spec, defaults);
    // "(default: X)" stays on one line: wrap it as one word.
    if (!def.empty())
      help += " (" + def.replace(def.find(' '), 1, "\x01") + ")";
    Wrap(help, width, &line);
    std::replace(line.begin(), line.end(), '\x01', ' ');
    text += line + "\n";
  }
  text +=
      "\nSIZE and BITS take a k, M, G, T, P or E suffix (powers of 1024).\n"
      "Options given on the command line override the options file.\n"
      "S3 credentials: --accessFile, --accessId with --accessKeyEnv, or\n"
      "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN.\n"
      "A volume records its --size, --blockSize, --compress and --encrypt;\n"
      "later runs read them back and refuse others. See usbd(8).\n";
  out << text;
}

}  // namespace usbd::options_internal
