#include "daemon/stats_report.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace usbd {
namespace {

const std::vector<StatEntry> kStats = {
    {"cache.hits", 12, "block reads answered from the cache"},
    {"cache.dirty", 3, "blocks written and not uploaded yet", StatKind::kGauge},
    {"codec.bytes_in", 4000, "bytes in"},
    {"codec.bytes_stored", 1000, "bytes stored"},
};

TEST(FormatStatsTest, LogLineNamesEveryCounter) {
  EXPECT_EQ(FormatStats(kStats),
            "stats: cache.hits=12 cache.dirty=3 codec.bytes_in=4000 "
            "codec.bytes_stored=1000");
}

TEST(FormatStatsFileTest, OneLineEachThenTheCompressionRatio) {
  EXPECT_EQ(FormatStatsFile(kStats),
            "cache.hits 12\ncache.dirty 3\ncodec.bytes_in 4000\n"
            "codec.bytes_stored 1000\ncodec.compression_ratio 0.25\n");
}

TEST(FormatStatsFileTest, NoRatioBeforeTheCodecHasEncodedAnything) {
  EXPECT_EQ(FormatStatsFile({{"codec.bytes_in", 0}, {"codec.bytes_stored", 0}}),
            "codec.bytes_in 0\ncodec.bytes_stored 0\n");
  EXPECT_EQ(FormatStatsFile({{"dir.reads", 1}}), "dir.reads 1\n");
}

TEST(FormatMetricsTest, CountersAndGaugesWithHelpTypeAndTheVolumeLabel) {
  const std::string text = FormatMetrics(kStats, "bucket/vol1");
  EXPECT_NE(text.find("# HELP usbd_cache_hits_total block reads answered "
                      "from the cache\n"
                      "# TYPE usbd_cache_hits_total counter\n"
                      "usbd_cache_hits_total{volume=\"bucket/vol1\"} 12\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# TYPE usbd_cache_dirty gauge\n"
                      "usbd_cache_dirty{volume=\"bucket/vol1\"} 3\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# TYPE usbd_codec_compression_ratio gauge\n"
                      "usbd_codec_compression_ratio{volume=\"bucket/vol1\"} "
                      "0.25\n"),
            std::string::npos)
      << text;
}

TEST(FormatMetricsTest, EscapesTheLabelAndTheHelpText) {
  const std::string text =
      FormatMetrics({{"dir.reads", 1, "a \\ b\nc"}}, "/srv/a \"b\"\\c\nd");
  EXPECT_EQ(text,
            "# HELP usbd_dir_reads_total a \\\\ b\\nc\n"
            "# TYPE usbd_dir_reads_total counter\n"
            "usbd_dir_reads_total{volume=\"/srv/a \\\"b\\\"\\\\c\\nd\"} 1\n");
}

}  // namespace
}  // namespace usbd
