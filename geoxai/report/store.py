"""The report's rows: one image row (prediction, GCD, countries, the explainer's facts) and one
concept row per image and concept present in it (ci, tki, size, valid), in the job framework's
atomic Parquet parts (``geoxai.jobs.store``)."""
from __future__ import annotations

import pyarrow as pa

from ..jobs.store import BASE_IMAGE_FIELDS, IMAGES, MANIFEST
from ..jobs.store import PartStore as JobStore

CONCEPTS = "concepts"
#: sub-folders of a report besides the parts (outputs.PLOTS_DIR, examples.EXAMPLES_DIR): a killed
#: run's temporary files are removed from all of them
OUTPUT_FOLDERS = ("plots", "examples")
__all__ = ["CONCEPTS", "CONCEPT_SCHEMA", "IMAGES", "IMAGE_SCHEMA", "MANIFEST", "OUTPUT_FOLDERS", "PartStore"]

IMAGE_SCHEMA = pa.schema([
    *BASE_IMAGE_FIELDS,
    ("pred_cell", pa.int64()),
    ("pred_key", pa.string()),
    ("pred_label", pa.string()),
    ("pred_lat", pa.float64()),
    ("pred_lon", pa.float64()),
    ("pred_prob", pa.float64()),
    ("gcd_km", pa.float64()),
    ("shard", pa.string()),
    # from the prediction's top_countries (geoxai.countries): the most probable country and
    # continent with their summed probabilities, and the country of the true location ("ocean"
    # at sea); null in parts written before these columns existed
    ("pred_country", pa.string()),
    ("pred_country_prob", pa.float64()),
    ("pred_continent", pa.string()),
    ("pred_continent_prob", pa.float64()),
    ("true_country", pa.string()),
    ("explainer_info", pa.string()),  # JSON of the explainer's per-image facts (Attribution.info)
])

CONCEPT_SCHEMA = pa.schema([
    ("image_id", pa.string()),
    ("concept", pa.string()),
    ("concept_index", pa.int64()),
    ("ci", pa.float64()),
    ("tki", pa.float64()),
    ("size", pa.float64()),
    ("valid", pa.bool_()),
    # null in parts written before these columns existed: whether the concept is one of the
    # segmenter's geolocation cues (``Segmenter.cue_concepts``), and concept-shap's Shapley value,
    # its share (value / sum of |values| in the image) and the km the answer moves without it
    ("cue", pa.bool_()),
    ("shapley", pa.float64()),
    ("shapley_share", pa.float64()),
    ("km_removed", pa.float64()),
])


class PartStore(JobStore):
    """A report folder's parts."""

    image_schema = IMAGE_SCHEMA
    concept_schema = CONCEPT_SCHEMA
    concepts_folder = CONCEPTS
    output_folders = OUTPUT_FOLDERS
