// Annotations: buildx's --annotation syntax, BuildKit's annotation.* output
// keys, and where apply_annotations puts them.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fs.h"
#include "exporter/exporter.h"

using namespace xb::store;
using namespace xb::exporter;
using L = Annotation::Level;

namespace {

TEST(Annotations, FlagSyntax) {
  EXPECT_EQ(parse_annotation_flag("org.opencontainers.image.title=app"),
            (std::vector<Annotation>{{L::manifest, std::nullopt, "org.opencontainers.image.title", "app"}}));
  EXPECT_EQ(parse_annotation_flag("index:k=v=w"), (std::vector<Annotation>{{L::index, std::nullopt, "k", "v=w"}}));
  EXPECT_EQ(parse_annotation_flag("manifest-descriptor:k="),
            (std::vector<Annotation>{{L::manifest_descriptor, std::nullopt, "k", ""}}));
  EXPECT_EQ(parse_annotation_flag("index-descriptor:k=v")[0].level, L::index_descriptor);
  auto p = parse_annotation_flag("manifest[linux/arm64]:k=v");
  ASSERT_EQ(p.size(), 1u);
  ASSERT_TRUE(p[0].platform);
  EXPECT_EQ(p[0].platform->str(), "linux/arm64");
  auto two = parse_annotation_flag("manifest,index:k=v");
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0].level, L::manifest);
  EXPECT_EQ(two[1].level, L::index);
}

TEST(Annotations, FlagMistakesAreUsageErrors) {
  for (const char* bad : {"novalue", "bogus:k=v", "manifest[a b]:k=v", "has space=v", "=v"}) {
    try {
      parse_annotation_flag(bad);
      ADD_FAILURE() << bad;
    } catch (const xb::Error& e) {
      EXPECT_EQ(e.kind(), xb::ErrorKind::usage) << bad;
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
}

TEST(Annotations, OutputOptionKeys) {
  EXPECT_FALSE(parse_annotation_option("annotations", "x"));  // not annotation[-.[]
  EXPECT_FALSE(parse_annotation_option("dest", "x"));
  EXPECT_EQ(*parse_annotation_option("annotation.k", "v"), (Annotation{L::manifest, std::nullopt, "k", "v"}));
  EXPECT_EQ(parse_annotation_option("annotation-index.k", "v")->level, L::index);
  EXPECT_EQ(parse_annotation_option("annotation-manifest-descriptor.k", "v")->level, L::manifest_descriptor);
  EXPECT_EQ(parse_annotation_option("annotation-manifest[linux/amd64].k", "v")->platform->str(), "linux/amd64");
  EXPECT_THROW(parse_annotation_option("annotation-bogus.k", "v"), xb::Error);
  EXPECT_THROW(parse_annotation_option("annotation.", "v"), xb::Error);
  OutputSpec o = parse_output("type=oci,dest=x.tar,annotation.a=1,annotation-manifest-descriptor.b=2");
  ASSERT_EQ(o.annotations.size(), 2u);
}

TEST(Annotations, OutputShorthands) {
  OutputSpec dir = parse_output("./out");
  EXPECT_EQ(dir.type, OutputSpec::Type::local);
  EXPECT_EQ(dir.dest, "./out");
  OutputSpec load = parse_output("type=docker");
  EXPECT_EQ(load.type, OutputSpec::Type::docker);
  EXPECT_TRUE(load.dest.empty());  // --load: into the engine
}

class Apply : public ::testing::Test {
 protected:
  Descriptor manifest() {
    ImageConfig cfg;
    cfg.os = "linux";
    cfg.architecture = "amd64";
    std::string cj = cfg.to_json();
    Manifest m{.media_type = std::string(media_type::oci_manifest),
               .config = Descriptor{.media_type = std::string(media_type::oci_config),
                                    .digest = st.put_blob(cj),
                                    .size = static_cast<int64_t>(cj.size())}};
    std::string mj = m.to_json();
    return Descriptor{.media_type = m.media_type, .digest = st.put_blob(mj), .size = static_cast<int64_t>(mj.size())};
  }
  xb::TempDir tmp{"annotate-test"};
  Store st{tmp.path() / "store"};
};

TEST_F(Apply, ManifestAndDescriptorAnnotationsOnALoneManifest) {
  Descriptor d = manifest();
  Descriptor out = apply_annotations(st, d,
                                     {{L::manifest, std::nullopt, "a", "1"},
                                      {L::manifest_descriptor, std::nullopt, "b", "2"},
                                      {L::manifest, Platform::parse("linux/arm64"), "arm", "x"},
                                      {L::manifest, Platform::parse("linux/amd64"), "amd", "y"}});
  EXPECT_NE(out.digest, d.digest);
  Manifest m = Manifest::parse(st.read_blob(out.digest));
  EXPECT_EQ(m.annotations, (std::map<std::string, std::string>{{"a", "1"}, {"amd", "y"}}));
  EXPECT_EQ(out.annotations, (std::map<std::string, std::string>{{"b", "2"}}));
  EXPECT_EQ(m.config.digest, Manifest::parse(st.read_blob(d.digest)).config.digest);  // same image ID
  EXPECT_EQ(apply_annotations(st, d, {}).digest, d.digest);
}

TEST_F(Apply, IndexAnnotationsOnALoneManifestAreRefusedAsBuildKit) {
  for (L level : {L::index, L::index_descriptor}) {
    try {
      apply_annotations(st, manifest(), {{level, std::nullopt, "k", "v"}});
      ADD_FAILURE();
    } catch (const xb::Error& e) {
      EXPECT_EQ(e.kind(), xb::ErrorKind::usage);
      EXPECT_NE(std::string(e.what()).find("index annotations not supported for single platform export"),
                std::string::npos);
    }
  }
}

}  // namespace
