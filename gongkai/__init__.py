"""gongkai: Chongqing government information-disclosure notices as linked data."""

__version__ = "0.1.0"
