"""The ADE20k class table the segmenters label with."""
import pytest

from geoxai.concepts import ade20k_concepts, resolve_concept
from geoxai.segmenters.label_maps import palette

NAMES = ("sky animal building mountain flower person wall tree painting ceiling signboard rock car sea "
         "fence boat floor plant earth water field grass sand road sidewalk windowpane house airplane "
         "bridge door table").split()


def test_150_classes_in_release_order():
    concepts = ade20k_concepts()
    assert len(concepts) == 150 and len(set(concepts)) == 150
    assert concepts[:4] == ["wall", "building", "sky", "floor"]  # objectInfo150 order = channel order


@pytest.mark.parametrize("name", NAMES)
def test_paper_concepts_resolve(name):
    index = resolve_concept(name)
    assert 0 <= index < 150
    assert resolve_concept(name.upper()) == index


def test_synonyms_resolve_to_their_class():
    assert resolve_concept("window") == resolve_concept("windowpane")
    assert resolve_concept("pavement") == resolve_concept("sidewalk")
    with pytest.raises(KeyError):
        resolve_concept("no such concept")


def test_palette_sizes():
    assert palette(150).shape == (150, 3)
    assert palette(200).shape == (200, 3)
    with pytest.raises(ValueError):
        palette(257)
