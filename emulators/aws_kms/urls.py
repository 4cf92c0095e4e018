"""moto URL table for the fidelity layer (moto finds it next to ``models.py`` by module name)."""

from moto.kms.urls import url_bases

from .responses import FidelityKmsResponse

__all__ = ["url_bases", "url_paths"]

url_paths = {"{0}/$": FidelityKmsResponse.dispatch}
